import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Tests spawn real child processes and share two cores: keep files sequential-ish.
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // The run's temp dirs live in one directory, removed after the last file; and the run fails
    // if a process a test started is still alive then (every project inherits these; the first
    // copy to start does the work).
    globalSetup: ['test/setup/run-temp-dir.ts', 'test/setup/no-leaked-processes.ts'],
    projects: [
      { extends: true, test: { name: 'node', include: ['test/**/*.test.ts'], exclude: ['test/dashboard/**', '**/node_modules/**'] } },
      // The dashboard's tests drive a real Chromium: their global setup finds or installs one
      // first, and runs only when a dashboard test is in the run.
      { extends: true, test: { name: 'dashboard', include: ['test/dashboard/**/*.test.ts'], globalSetup: ['test/dashboard/chromium-setup.ts'] } },
    ],
  },
});
