// One run, live: its recorded steps, updated by the event stream as they happen, and caught
// up from the history after every (re)connect.
import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useMemo, useRef, useState } from 'react';
import { openEventStream } from '../api/events';
import { keys, useExecution } from '../api/hooks';
import type { Execution, RunEvent, Step, StepStatus } from '../api/types';
import type { RunStatus } from '../builder/store';

export interface LiveStep extends Partial<Omit<Step, 'status'>> {
  id: number;
  node_id: string;
  attempt: number;
  iteration: string;
  status: StepStatus | 'retrying';
  seenAt?: number;
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
const KEYS = ['status', 'attempt', 'duration_ms', 'error_message', 'input', 'output', 'replayed_from', 'worker', 'seenAt'] as const;

export function useRun(executionId: string | undefined) {
  const detail = useExecution(executionId);
  const client = useQueryClient();
  const [live, setLive] = useState<Map<number, LiveStep>>(new Map());
  const [execution, setExecution] = useState<Partial<Execution>>({});
  const [stream, setStream] = useState<'connecting' | 'live' | 'lost'>('connecting');
  const refetchTimer = useRef<ReturnType<typeof setTimeout> | null>(null);

  useEffect(() => {
    setLive(new Map());
    setExecution({});
    if (!executionId) return;
    const queryKey = keys.execution(executionId);
    // A read made now, never one already under way: an invalidation joins a first read still
    // in flight, and that read's answer may predate the subscription or the event that asked
    // for the new one (nothing later would correct it). Cancelling it first discards that
    // answer and starts a read of the history as it stands.
    const readAgain = () => void client.cancelQueries({ queryKey }).then(() => client.invalidateQueries({ queryKey }));
    const refetch = (soon = false) => {
      if (soon) {
        if (refetchTimer.current) return;
        refetchTimer.current = setTimeout(() => {
          refetchTimer.current = null;
          readAgain();
        }, 1500);
      } else {
        readAgain();
      }
    };
    // Events arrive in bursts (the server reads history a few times a second); they are
    // applied once per frame, so a burst of a hundred steps is one render, not a hundred.
    let queue: RunEvent[] = [];
    let frame = 0;
    const flush = () => {
      frame = 0;
      const batch = queue;
      queue = [];
      for (const event of batch) apply(event);
    };
    const onEvent = (event: RunEvent) => {
      queue.push(event);
      if (!frame) frame = requestAnimationFrame(flush);
    };
    const apply = (event: RunEvent) => {
      if (event.execution_id !== executionId) return;
      if (event.event.startsWith('execution.')) {
        setExecution((current) => ({ ...current, status: event.status, waiting_for: event.waiting_for ?? null, error_type: event.error_type ?? null, error_message: event.error_message ?? null }));
        refetch();
        return;
      }
      if (event.step_id === undefined || !event.node_id) return;
      const status: LiveStep['status'] =
        event.event === 'step.started' ? 'running' : event.event === 'step.finished' ? 'completed' : event.event === 'step.retrying' ? 'retrying' : event.event === 'step.failed' ? 'failed' : event.event === 'step.waiting' ? 'waiting' : 'cancelled';
      setLive((current) => {
        const next = new Map(current);
        const before = current.get(event.step_id!);
        next.set(event.step_id!, {
          ...before,
          id: event.step_id!,
          node_id: event.node_id!,
          attempt: event.attempt ?? 1,
          iteration: event.iteration ?? '0',
          status,
          started_at: event.started_at ?? before?.started_at,
          duration_ms: event.duration_ms ?? before?.duration_ms ?? null,
          error_type: event.error_type ?? before?.error_type ?? null,
          error_message: event.error_message ?? before?.error_message ?? null,
          seenAt: before?.seenAt ?? performance.now(),
        });
        return next;
      });
      if (status !== 'running') refetch(true);
    };
    const close = openEventStream({ executionId, onEvent, onSubscribed: () => refetch(), onState: setStream });
    return () => {
      close();
      if (frame) cancelAnimationFrame(frame);
      if (refetchTimer.current) clearTimeout(refetchTimer.current);
      refetchTimer.current = null;
    };
  }, [executionId, client]);

  const made = useRef(new Map<number, LiveStep>());
  const steps: LiveStep[] = useMemo(() => {
    const merged = new Map<number, LiveStep>();
    for (const step of detail.data?.steps ?? []) merged.set(step.id, { ...step, status: step.status === 'failed' && step.retryable ? 'retrying' : step.status });
    for (const [id, step] of live) {
      const recorded = merged.get(id);
      // The fetched row wins once it has ended; a live event wins over an older fetch.
      if (!recorded || recorded.status === 'running') merged.set(id, { ...recorded, ...step });
      else merged.set(id, { ...recorded, seenAt: step.seenAt });
    }
    // A step that did not change keeps its object, so its row is not drawn again.
    const result: LiveStep[] = [];
    for (const step of [...merged.values()].sort((a, b) => a.id - b.id)) {
      const before = made.current.get(step.id);
      const same = before && KEYS.every((key) => before[key] === step[key]);
      if (same) result.push(before);
      else {
        made.current.set(step.id, step);
        result.push(step);
      }
    }
    return result;
  }, [detail.data, live]);

  const merged: Execution | undefined = detail.data ? { ...detail.data.execution, ...(TERMINAL.has(detail.data.execution.status) ? {} : execution) } : undefined;

  const previous = useRef<Record<string, RunStatus>>({});
  const nodeStatus = useMemo(() => {
    const status: Record<string, RunStatus> = {};
    for (const step of steps) {
      if (step.iteration.includes(':')) continue; // map items colour their map node through its own step
      status[step.node_id] = step.status as RunStatus;
    }
    const before = previous.current;
    const same = Object.keys(status).length === Object.keys(before).length && Object.entries(status).every(([k, v]) => before[k] === v);
    if (same) return before;
    previous.current = status;
    return status;
  }, [steps]);

  return { detail, execution: merged, steps, nodeStatus, stream };
}
