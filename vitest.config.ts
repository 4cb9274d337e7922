import { defineConfig } from 'vitest/config';

// The machine has 2 cores and the lab is one shared set of hosts: integration files run
// one at a time (fileParallelism off) so they never fight over the lab or the loopback sshd.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 900_000,
    globalSetup: ['test/support/global-setup.ts'],
  },
});
