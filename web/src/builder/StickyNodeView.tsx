import { NodeResizer, type NodeProps } from '@xyflow/react';
import { memo, useState } from 'react';
import type { StickyNode } from './convert';
import { useCanvas } from './store';

function StickyNodeViewInner({ id, data, selected }: NodeProps<StickyNode>) {
  const [editing, setEditing] = useState(false);
  const update = useCanvas((s) => s.updateSticky);
  const readOnly = useCanvas((s) => s.readOnly);
  return (
    <>
      <NodeResizer isVisible={selected && !readOnly} minWidth={140} minHeight={80} />
      <div className="sticky-node" onDoubleClick={() => !readOnly && setEditing(true)} data-testid={`sticky-${id}`}>
        {editing ? (
          <textarea
            className="nodrag"
            autoFocus
            defaultValue={data.text}
            onBlur={(e) => {
              setEditing(false);
              if (e.currentTarget.value !== data.text) update(id, e.currentTarget.value);
            }}
          />
        ) : (
          data.text
        )}
      </div>
    </>
  );
}

export const StickyNodeView = memo(StickyNodeViewInner);
