// Import and export of workflow documents as JSON or YAML. A workflow holds credential
// names only (never their values), so an export carries no secret.
import YAML from 'yaml';
import type { Workflow } from '../api/types';

export function parseWorkflow(text: string, filename: string): Workflow {
  const yaml = /\.ya?ml$/i.test(filename);
  let data: unknown;
  try {
    data = yaml ? YAML.parse(text, { uniqueKeys: true, version: '1.2' }) : JSON.parse(text);
  } catch (error) {
    throw new Error(`${filename} is not valid ${yaml ? 'YAML' : 'JSON'}: ${(error as Error).message}; fix the file's syntax`);
  }
  if (!data || typeof data !== 'object' || Array.isArray(data)) {
    throw new Error(`${filename} holds no workflow: expected an object with 'name' and 'nodes'`);
  }
  const workflow = data as Workflow;
  if (typeof workflow.name !== 'string' || !Array.isArray(workflow.nodes)) {
    throw new Error(`${filename} holds no workflow: it needs a 'name' (text) and 'nodes' (a list)`);
  }
  return workflow;
}

export function serialise(workflow: Workflow, format: 'json' | 'yaml'): string {
  return format === 'json' ? `${JSON.stringify(workflow, null, 2)}\n` : YAML.stringify(workflow, { version: '1.2' });
}

export function download(filename: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: filename.endsWith('.json') ? 'application/json' : 'application/yaml' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
