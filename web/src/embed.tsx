// The embeddable widget's demonstration page (/embed.html#key=...&workflow=...): what a page of
// another site does with <AgProvider> and <CopilotWidget>.
import { createRoot } from 'react-dom/client';
import { AgProvider, CopilotWidget } from './chat/AgProvider';

const params = new URLSearchParams(location.hash.slice(1));
const key = params.get('key') ?? '';
const workflow = params.get('workflow') ?? '';
history.replaceState(null, '', location.pathname); // the key does not stay in the address bar

createRoot(document.getElementById('root')!).render(
  key && workflow ? (
    <AgProvider apiKey={key} workflowId={workflow}>
      <div style={{ maxWidth: 720, margin: '24px auto', padding: 12 }}>
        <CopilotWidget />
      </div>
    </AgProvider>
  ) : (
    <p style={{ fontFamily: 'sans-serif', padding: 24 }}>
      Open this page as /embed.html#key=&lt;an API key scoped to a workflow&gt;&amp;workflow=&lt;its id&gt;.
    </p>
  ),
);
