/// <reference types="vitest/config" />
import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

/** A gzip copy of each large text asset, which `synthral serve` sends to browsers that accept it. */
function gzipAssets(): Plugin {
  return {
    name: 'synthral-gzip-assets',
    apply: 'build',
    closeBundle() {
      const folder = path.resolve(import.meta.dirname, 'dist', 'assets');
      for (const name of readdirSync(folder)) {
        if (!/\.(js|css|svg|json)$/.test(name)) continue;
        const data = readFileSync(path.join(folder, name));
        if (data.length > 1024) writeFileSync(path.join(folder, `${name}.gz`), gzipSync(data, { level: 9 }));
      }
    },
  };
}

// The dev server forwards the API (and its WebSocket) to a running `synthral serve`.
const api = process.env.SYNTHRAL_API ?? 'http://127.0.0.1:8000';

export default defineConfig({
  plugins: [react(), gzipAssets()],
  server: {
    port: 5173,
    proxy: {
      '/api/v1/ws': { target: api.replace(/^http/, 'ws'), ws: true },
      '/api': { target: api, changeOrigin: false },
    },
  },
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    sourcemap: false,
    chunkSizeWarningLimit: 4000,
    // The app, and the page that shows the embeddable copilot widget.
    rollupOptions: { input: { main: path.resolve(import.meta.dirname, 'index.html'), embed: path.resolve(import.meta.dirname, 'embed.html') } },
  },
  worker: { format: 'es' },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.ts', 'src/**/*.test.tsx'],
    setupFiles: ['./src/test-setup.ts'],
  },
});
