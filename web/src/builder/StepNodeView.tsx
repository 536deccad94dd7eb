import { Badge, Tooltip } from '@mantine/core';
import { Handle, Position, type NodeProps } from '@xyflow/react';
import { memo, useMemo } from 'react';
import { INPUT, outputHandles, type StepNode } from './convert';
import { NodeIcon } from './icons';
import { useCanvas } from './store';
import { useSpecs } from './specs';

function StepNodeViewInner({ id, data, selected }: NodeProps<StepNode>) {
  const spec = useSpecs().get(data.node.type);
  const status = useCanvas((s) => s.runStatus[id]);
  const allProblems = useCanvas((s) => s.problems);
  const problems = useMemo(() => allProblems.filter((p) => p.node_id === id), [allProblems, id]);
  const mark = useCanvas((s) => s.diff?.[id]);
  const outputs = outputHandles(data.node, spec);
  const ghost = Boolean(data.ghost);
  const classes = [
    'step-node',
    selected ? 'selected' : '',
    status ? `run-${status}` : '',
    problems.length ? 'problem' : '',
    mark ? `diff-${mark}` : '',
  ].join(' ');
  const labelled = outputs.length > 1 || outputs[0]?.id !== 'main';
  return (
    <div className={classes} data-testid={`node-${id}`} data-status={status ?? ''} data-diff={mark ?? ''} data-problem={problems.length ? 'yes' : ''} style={{ position: 'relative' }}>
      {!ghost && <Handle type="target" position={Position.Left} id={INPUT} />}
      <div className="head">
        <div className="icon">
          <NodeIcon icon={spec?.icon} type={data.node.type} />
        </div>
        <div style={{ minWidth: 0 }}>
          <div className="title">{data.node.name || spec?.title || data.node.type}</div>
          <div className="sub mono">
            {id} · {data.node.type}
            {data.node.version ? `==${data.node.version}` : ''}
          </div>
        </div>
      </div>
      {problems.length > 0 && (
        <Tooltip label={problems.map((p) => p.message).join('\n')} multiline w={320}>
          <Badge className="badge" color="red" size="xs">
            {problems.length} problem{problems.length > 1 ? 's' : ''}
          </Badge>
        </Tooltip>
      )}
      {mark && (
        <Badge className="badge" color={mark === 'added' ? 'green' : mark === 'removed' ? 'red' : 'yellow'} size="xs">
          {mark}
        </Badge>
      )}
      {!spec && !ghost && (
        <Badge className="badge" color="orange" size="xs">
          unknown type
        </Badge>
      )}
      {labelled ? (
        <div className="outs">
          {outputs.map((handle) => (
            <div className="out" key={handle.id}>
              {handle.label || handle.id}
              {!ghost && <Handle type="source" position={Position.Right} id={handle.id} style={{ right: -15, top: '50%' }} data-handle={handle.id} />}
            </div>
          ))}
        </div>
      ) : (
        !ghost && <Handle type="source" position={Position.Right} id="main" />
      )}
    </div>
  );
}

export const StepNodeView = memo(StepNodeViewInner);
