import { Alert, Badge, Button, Divider, Group, MultiSelect, NumberInput, ScrollArea, Select, Stack, TagsInput, Text, TextInput, Title } from '@mantine/core';
import Form from '@rjsf/core';
import type { ErrorSchema, RJSFSchema } from '@rjsf/utils';
import { IconExternalLink } from '@tabler/icons-react';
import { memo, useMemo, useState } from 'react';
import { useLocation } from 'wouter';
import type { JsonObject, JsonValue, NodeType, RetryPolicy, ValidationProblem, WorkflowNode } from '../api/types';
import type { FieldChange } from './diff';
import { TemplateField } from './TemplateField';
import { coerce, prepareSchema } from './schemaPrep';
import { validator } from './schemaValidator';
import { fromText } from './textValue';
import type { Completion } from './templates';

interface Props {
  node: WorkflowNode;
  spec: NodeType | undefined;
  problems: ValidationProblem[];
  credentials: string[];
  readOnly: boolean;
  complete: (before: string) => Completion[];
  changes?: FieldChange[];
  onChange: (patch: Partial<WorkflowNode>, field?: string) => void;
  onRename: (id: string) => string | null;
}

/** The server's problems under /config/... as rjsf's error schema, so each shows under its field. */
export function problemsToErrorSchema(problems: ValidationProblem[], root: string): ErrorSchema {
  const schema: Record<string, unknown> = {};
  for (const problem of problems) {
    if (!problem.pointer.startsWith(root)) continue;
    const path = problem.pointer.slice(root.length).split('/').filter(Boolean);
    let at = schema;
    for (const part of path) at = (at[part] ??= {}) as Record<string, unknown>;
    at.__errors = [...((at.__errors as string[]) ?? []), problem.message];
  }
  return schema as ErrorSchema;
}

function asText(value: JsonValue | undefined): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function ConfigPanelInner({ node, spec, problems, credentials, readOnly, complete, changes, onChange, onRename }: Props) {
  const [, navigate] = useLocation();
  const [idDraft, setIdDraft] = useState(node.id);
  const [idError, setIdError] = useState<string | null>(null);
  const [newField, setNewField] = useState('');
  const operation = node.operation ?? spec?.default_operation ?? Object.keys(spec?.operations ?? {})[0];
  const inputSchema = (operation ? spec?.operations[operation]?.input_schema : undefined) as RJSFSchema | undefined;
  const inputProps = (inputSchema?.properties ?? {}) as Record<string, RJSFSchema>;
  const required = new Set((inputSchema?.required as string[] | undefined) ?? []);
  const inputKeys = [...new Set([...Object.keys(inputProps), ...Object.keys(node.input ?? {})])];
  const extraErrors = useMemo(() => problemsToErrorSchema(problems, '/config'), [problems]);
  const configSchema = useMemo(() => (spec ? prepareSchema(spec.config_schema as RJSFSchema) : undefined), [spec]);
  const general = problems.filter((p) => !p.pointer.startsWith('/config/') && !p.pointer.startsWith('/input/'));
  const inputError = (key: string) => problems.filter((p) => p.pointer === `/input/${key}` || p.pointer.startsWith(`/input/${key}/`)).map((p) => p.message).join('; ');
  const retry = node.retry ?? {};
  const setRetry = (patch: Partial<RetryPolicy>) => onChange({ retry: { ...retry, ...patch } }, 'retry');
  const num = (value: string | number) => (value === '' ? null : Number(value));

  return (
    <ScrollArea h="100%" p="sm" data-testid="config-panel">
      <Stack gap="sm">
        <Group justify="space-between" wrap="nowrap">
          <div>
            <Title order={5}>{spec?.title ?? node.type}</Title>
            <Text size="xs" c="dimmed" className="mono">
              {node.type}
            </Text>
          </div>
          {spec && !spec.builtin && <Badge variant="outline">{spec.plugin}</Badge>}
        </Group>
        {spec?.description && (
          <Text size="xs" c="dimmed">
            {spec.description}
          </Text>
        )}
        {!spec && (
          <Alert color="orange" variant="light">
            No installed plugin offers <b>{node.type}</b>. Install its plugin, or change the type.
          </Alert>
        )}
        {changes && changes.length > 0 && (
          <Alert color="yellow" variant="light" title="Changed in this version" data-testid="node-changes">
            {changes.map((c) => (
              <Text size="xs" key={c.path} className="mono">
                {c.path}: {JSON.stringify(c.before) ?? '—'} → {JSON.stringify(c.after) ?? '—'}
              </Text>
            ))}
          </Alert>
        )}
        {general.map((p) => (
          <Text key={p.pointer + p.message} className="form-problem" data-testid="node-problem">
            {p.message}
          </Text>
        ))}
        <Group grow align="flex-start">
          <TextInput
            label="Id"
            size="xs"
            className="mono"
            value={idDraft}
            readOnly={readOnly}
            error={idError}
            onChange={(e) => setIdDraft(e.currentTarget.value)}
            onBlur={() => setIdError(onRename(idDraft))}
            aria-label="node id"
          />
          <TextInput label="Label" size="xs" value={node.name ?? ''} readOnly={readOnly} onChange={(e) => onChange({ name: e.currentTarget.value }, 'name')} aria-label="node label" />
        </Group>
        {spec && Object.keys(spec.operations).length > 1 && (
          <Select
            label="Operation"
            size="xs"
            data={Object.keys(spec.operations)}
            value={node.operation ?? null}
            placeholder={spec.default_operation ?? 'choose one'}
            readOnly={readOnly}
            onChange={(v) => onChange({ operation: v })}
          />
        )}
        {node.type === 'engine/subworkflow' && typeof node.config?.workflow === 'string' && node.config.workflow && (
          <Button size="xs" variant="light" leftSection={<IconExternalLink size={14} />} onClick={() => navigate(`/workflows/${encodeURIComponent(String(node.config?.workflow))}`)}>
            Open sub-workflow {String(node.config.workflow)}
          </Button>
        )}
        <Divider label="Configuration" labelPosition="left" />
        {spec && configSchema && Object.keys(configSchema.properties ?? {}).length > 0 ? (
          <div className="rjsf" data-testid="config-form">
            <Form
              schema={configSchema}
              formData={node.config ?? {}}
              validator={validator}
              extraErrors={extraErrors}
              showErrorList={false}
              disabled={readOnly}
              liveValidate={false}
              uiSchema={{ 'ui:submitButtonOptions': { norender: true } }}
              onChange={(event) => onChange({ config: (coerce(configSchema, event.formData ?? {}) ?? {}) as JsonObject }, 'config')}
            >
              <></>
            </Form>
          </div>
        ) : (
          <Text size="xs" c="dimmed">
            This node has no configuration.
          </Text>
        )}
        <Divider label="Input" labelPosition="left" />
        <Text size="xs" c="dimmed">
          Values may be templates: type <span className="mono">{'{{ '}</span> for the data of earlier nodes.
        </Text>
        {inputKeys.map((key) => (
          <TemplateField
            key={key}
            label={`${key}${required.has(key) ? ' *' : ''}`}
            description={inputProps[key]?.description}
            value={asText(node.input?.[key])}
            readOnly={readOnly}
            error={inputError(key) || undefined}
            complete={complete}
            onChange={(text) => {
              const input = { ...(node.input ?? {}) };
              if (text === '' && !required.has(key)) delete input[key];
              else input[key] = fromText(text);
              onChange({ input }, `input.${key}`);
            }}
          />
        ))}
        {!readOnly && (
          <Group gap={4} align="flex-end">
            <TextInput size="xs" placeholder="another input field" value={newField} onChange={(e) => setNewField(e.currentTarget.value)} style={{ flex: 1 }} aria-label="new input field" />
            <Button
              size="xs"
              variant="default"
              disabled={!newField.trim()}
              onClick={() => {
                onChange({ input: { ...(node.input ?? {}), [newField.trim()]: '' } });
                setNewField('');
              }}
            >
              Add
            </Button>
          </Group>
        )}
        <Divider label="Credentials" labelPosition="left" />
        <MultiSelect
          size="xs"
          data={[...new Set([...credentials, ...(node.secrets ?? [])])]}
          value={node.secrets ?? []}
          placeholder={credentials.length ? 'grant credentials by name' : 'no credentials in this workspace'}
          readOnly={readOnly}
          searchable
          onChange={(secrets) => onChange({ secrets })}
          description={spec?.secrets.length ? `This node asks for: ${spec.secrets.join(', ')}` : undefined}
          aria-label="credentials"
        />
        <Divider label="Retries and time" labelPosition="left" />
        <Group grow>
          <NumberInput size="xs" label="Attempts" min={1} max={1000} value={retry.max_attempts ?? ''} placeholder="workflow's" readOnly={readOnly} onChange={(v) => setRetry({ max_attempts: num(v) })} />
          <NumberInput size="xs" label="Timeout (s)" min={0} value={node.timeout ?? ''} placeholder="none" readOnly={readOnly} onChange={(v) => onChange({ timeout: num(v) }, 'timeout')} />
        </Group>
        <Group grow>
          <NumberInput size="xs" label="First wait (s)" min={0} value={retry.initial_interval ?? ''} placeholder="1" readOnly={readOnly} onChange={(v) => setRetry({ initial_interval: num(v) })} />
          <NumberInput size="xs" label="Back-off ×" min={1} max={100} value={retry.backoff_coefficient ?? ''} placeholder="2" readOnly={readOnly} onChange={(v) => setRetry({ backoff_coefficient: num(v) })} />
          <NumberInput size="xs" label="Longest wait (s)" min={0} value={retry.max_interval ?? ''} placeholder="60" readOnly={readOnly} onChange={(v) => setRetry({ max_interval: num(v) })} />
        </Group>
        <TagsInput size="xs" label="Fail at once on" placeholder="InputInvalid, ValueError…" value={retry.non_retryable_errors ?? []} readOnly={readOnly} onChange={(v) => setRetry({ non_retryable_errors: v })} />
        {spec && !spec.builtin && (
          <Select
            size="xs"
            label="Plugin version"
            description="Unset: the version pinned when the workflow is saved."
            data={spec.versions}
            value={node.version ?? null}
            clearable
            placeholder={`pinned at save (newest: ${spec.version})`}
            readOnly={readOnly}
            onChange={(v) => onChange({ version: v })}
          />
        )}
      </Stack>
    </ScrollArea>
  );
}

export const ConfigPanel = memo(ConfigPanelInner);
