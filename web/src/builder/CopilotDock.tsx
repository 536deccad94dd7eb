// The copilot docked beside the canvas: the app's chat panel about the open workflow. An edit
// or draft the user accepts goes onto the canvas as one undoable change; it is saved when the
// user saves, like any other edit.
import { Text } from '@mantine/core';
import { useReactFlow } from '@xyflow/react';
import { useCallback } from 'react';
import type { NodeType } from '../api/types';
import { ChatPanel } from '../chat/ChatPanel';
import type { JsonObject } from '../chat/model';
import { appTransport } from '../chat/transport';
import type { Transport } from '../chat/useCopilot';
import { proposedWorkflow } from './proposal';
import { useCanvas } from './store';

const HINT =
  'Ask to change this workflow (“send the result to Slack too”), to explain its last failed run, or to run it. ' +
  'An edit you accept goes onto the canvas; it is saved when you save.';

export interface CopilotDockProps {
  /** The open workflow (none while a new one is unsaved). */
  workflowId?: string;
  specs: Map<string, NodeType>;
  /** Why the canvas cannot take an edit now (a viewer, an old version open), or null. */
  locked: string | null;
  transport?: Transport;
}

export function CopilotDock({ workflowId, specs, locked, transport = appTransport }: CopilotDockProps) {
  const flow = useReactFlow();
  const apply = useCallback(
    (proposal: JsonObject) => {
      if (locked) return locked;
      const canvas = useCanvas.getState();
      const result = proposedWorkflow({ id: workflowId, current: canvas.toWorkflow(specs) }, proposal);
      if ('error' in result) return result.error;
      canvas.replace(result.workflow);
      requestAnimationFrame(() => void flow.fitView({ padding: 0.2, duration: 200 }));
      return null;
    },
    [locked, workflowId, specs, flow],
  );
  return (
    <div
      style={{ width: 440, borderLeft: '1px solid var(--mantine-color-gray-3)', background: 'white', padding: 8, display: 'flex', flexDirection: 'column', minHeight: 0 }}
      data-testid="builder-copilot"
    >
      <ChatPanel key={workflowId ?? 'new'} transport={transport} workflowId={workflowId} onApply={apply} header={<Text fw={600}>Copilot</Text>} hint={HINT} />
    </div>
  );
}
