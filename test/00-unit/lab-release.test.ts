import { describe, expect, it } from 'vitest';
import { imagePath } from '../../src/lab/image.ts';
import { keptRelease, parseRelease } from '../../src/lab/release.ts';
import { LabError } from '../../src/lab/run.ts';

describe('lab release', () => {
  it('reads --release as a number or a suite name, and refuses others with the choices', () => {
    expect(parseRelease('13')).toBe('13');
    expect(parseRelease('bookworm')).toBe('12');
    const e = (() => {
      try {
        parseRelease('14');
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(LabError);
    expect((e as LabError).fix).toBe('use one of 12 (bookworm), 13 (trixie)');
  });

  it('an instance keeps the release of its first up; asking for another is refused with the way out', () => {
    expect(keptRelease('d13', undefined, '13')).toBe('13');
    expect(keptRelease('d13', '13', undefined)).toBe('13');
    expect(keptRelease('d13', '13', '13')).toBe('13');
    expect(() => keptRelease('d13', '13', '12')).toThrow('lab instance d13 runs Debian 13 (trixie), not 12');
  });

  it('each release has its own cached image, named after its suite', () => {
    expect(imagePath('12')).toMatch(/\/bookworm-[0-9a-f]{10}$/);
    expect(imagePath('13')).toMatch(/\/trixie-[0-9a-f]{10}$/);
  });
});
