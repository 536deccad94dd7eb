// Monaco, bundled from the monaco-editor package (never a CDN) and loaded only when an
// editor is first shown: this module is the lazy chunk.
import * as monaco from 'monaco-editor/editor/editor.main';
import EditorWorker from 'monaco-editor/editor/editor.worker?worker';
import JsonWorker from 'monaco-editor/language/json/json.worker?worker';
import { useEffect, useRef } from 'react';
import type { Completion } from './templates';

(self as unknown as { MonacoEnvironment: monaco.Environment }).MonacoEnvironment = {
  getWorker: (_id: string, label: string) => (label === 'json' ? new JsonWorker() : new EditorWorker()),
};

const TEMPLATE = 'synthral-template';
let completer: ((before: string) => Completion[]) | null = null;

if (!monaco.languages.getLanguages().some((l) => l.id === TEMPLATE)) {
  monaco.languages.register({ id: TEMPLATE });
  monaco.languages.setMonarchTokensProvider(TEMPLATE, {
    tokenizer: {
      root: [
        [/\{\{/, { token: 'delimiter.bracket', next: '@expr' }],
        [/\{%/, { token: 'delimiter.bracket', next: '@expr' }],
        [/[^{]+/, ''],
      ],
      expr: [
        [/\}\}|%\}/, { token: 'delimiter.bracket', next: '@pop' }],
        [/'[^']*'|"[^"]*"/, 'string'],
        [/\b(nodes|trigger|execution|item|index)\b/, 'keyword'],
        [/\|\s*[a-z_]+/, 'type'],
        [/[0-9]+/, 'number'],
        [/./, 'identifier'],
      ],
    },
  });
  monaco.languages.registerCompletionItemProvider(TEMPLATE, {
    triggerCharacters: ['.', '{', ' '],
    provideCompletionItems: (model, position) => {
      const before = model.getValueInRange({ startLineNumber: 1, startColumn: 1, endLineNumber: position.lineNumber, endColumn: position.column });
      const word = model.getWordUntilPosition(position);
      const range = { startLineNumber: position.lineNumber, endLineNumber: position.lineNumber, startColumn: word.startColumn, endColumn: word.endColumn };
      return {
        suggestions: (completer?.(before) ?? []).map((c) => ({
          label: c.label,
          kind: monaco.languages.CompletionItemKind.Field,
          insertText: c.insert,
          detail: c.detail,
          range,
        })),
      };
    },
  });
}

interface Props {
  value: string;
  onChange: (value: string) => void;
  language: 'json' | 'template' | 'python' | 'javascript';
  height?: number | string;
  complete?: (before: string) => Completion[];
  readOnly?: boolean;
  testId?: string;
}

export default function MonacoEditor({ value, onChange, language, height = 220, complete, readOnly, testId }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const editor = useRef<monaco.editor.IStandaloneCodeEditor | null>(null);
  const change = useRef(onChange);
  const applying = useRef(false);
  change.current = onChange;

  useEffect(() => {
    if (!host.current) return;
    const instance = monaco.editor.create(host.current, {
      value,
      language: language === 'template' ? TEMPLATE : language,
      minimap: { enabled: false },
      automaticLayout: true,
      fontSize: 13,
      lineNumbers: language === 'template' ? 'off' : 'on',
      scrollBeyondLastLine: false,
      wordWrap: 'on',
      readOnly,
      autoClosingBrackets: 'never',
      tabSize: 2,
    });
    editor.current = instance;
    // Only the person's edits are reported, not values set from outside.
    const subscription = instance.onDidChangeModelContent(() => {
      if (!applying.current) change.current(instance.getValue());
    });
    const focus = instance.onDidFocusEditorText(() => {
      completer = complete ?? null;
    });
    return () => {
      subscription.dispose();
      focus.dispose();
      instance.getModel()?.dispose();
      instance.dispose();
    };
    // The editor is made once; value changes from outside are applied below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    const instance = editor.current;
    if (instance && instance.getValue() !== value) {
      applying.current = true;
      instance.setValue(value);
      applying.current = false;
    }
  }, [value]);

  return <div ref={host} style={{ height, border: '1px solid var(--mantine-color-gray-4)', borderRadius: 6 }} data-testid={testId} />;
}
