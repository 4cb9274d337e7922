import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Files run one at a time in path order, so numbered prefixes decide the order: unit tests,
 * then loopback sshd tests, then the lab (its teardown test `lab/99-*` last).
 */
export default class PathSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...files].sort((a, b) => a.moduleId.localeCompare(b.moduleId));
  }
}
