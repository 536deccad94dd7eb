/// <reference types="vite/client" />

declare module 'monaco-editor/editor/editor.main' {
  export * from 'monaco-editor/editor/editor.api';
}
