/// <reference types="vitest/config" />
import { defineConfig } from 'vite';

// During `npm run dev`, API calls are proxied to a running headless node:
//   HEARTH_NODE=http://127.0.0.1:PORT npm run dev   (then open /#token=TOKEN)
const node = process.env.HEARTH_NODE;

export default defineConfig({
  base: './',
  oxc: {
    jsx: { runtime: 'automatic', importSource: 'preact' },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Keep every asset a separate file: the app runs under a strict CSP.
    assetsInlineLimit: 0,
  },
  server: node
    ? {
        proxy: {
          '/api': {
            target: node,
            ws: true,
            changeOrigin: true,
            // The node only accepts requests that come from its own origin.
            configure: (proxy) => {
              proxy.on('proxyReq', (req) => {
                if (req.getHeader('origin')) req.setHeader('origin', node);
              });
              proxy.on('proxyReqWs', (req) => {
                if (req.getHeader('origin')) req.setHeader('origin', node);
              });
            },
          },
          // Video byte ranges and thumbnails (token in the query, as <video> and <img> send it).
          '/media': { target: node, changeOrigin: true },
          '/thumbs': { target: node, changeOrigin: true },
        },
      }
    : undefined,
  test: {
    include: ['src/**/*.test.ts', 'src/**/*.test.tsx'],
    environment: 'node',
  },
});
