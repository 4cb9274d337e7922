import { defineConfig } from 'vitest/config';
import PathSequencer from './test/support/sequencer.ts';

// The machine has 2 cores and the lab is one shared set of hosts: test files run one at a
// time, in path order (unit, then loopback sshd, then the lab), never two against the lab.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    sequence: { sequencer: PathSequencer },
    testTimeout: 60_000,
    hookTimeout: 900_000,
    globalSetup: ['test/support/global-setup.ts'],
  },
});
