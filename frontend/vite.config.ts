/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The API runs on the same origin in production (`stsd serve`); in development Vite proxies it.
const api = process.env.STSD_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  build: {
    // No inline polyfill script: the Content-Security-Policy allows only 'self' scripts.
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
  server: {
    proxy: { '/api': api, '/healthz': api, '/readyz': api },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
    environmentOptions: { jsdom: { url: 'http://localhost/' } },
    setupFiles: ['src/test-setup.ts'],
    // The user-event tests type and click through whole forms; on a shared two-core CI machine
    // under load (a load average of 8 was seen) 5 s was not always enough for the slowest.
    testTimeout: 20_000,
  },
});
