/**
 * Which Debian release an instance's hosts run. Chosen at the instance's first `up`
 * (`--release 12|13`) and kept in its state: a lab never changes release under its hosts.
 */
import { LabError } from './run.ts';

export const RELEASES = { '12': 'bookworm', '13': 'trixie' } as const;
export type Release = keyof typeof RELEASES;
export const RELEASE_NAMES = Object.keys(RELEASES) as Release[];
/** What `up` builds when the instance has no release yet and none is asked for. */
export const DEFAULT_RELEASE: Release = '13';

export function isRelease(v: string): v is Release {
  return Object.hasOwn(RELEASES, v);
}

export function suiteOf(release: Release): string {
  return RELEASES[release];
}

/** `--release 13` (or a suite name) -> '13'. */
export function parseRelease(v: string | undefined): Release {
  const s = (v ?? '').trim();
  if (isRelease(s)) return s;
  const bySuite = RELEASE_NAMES.find((r) => RELEASES[r] === s);
  if (bySuite) return bySuite;
  throw new LabError(`unknown Debian release ${JSON.stringify(s)}`, `use one of ${RELEASE_NAMES.map((r) => `${r} (${RELEASES[r]})`).join(', ')}`);
}

/** The release an instance keeps; asking for another one on an existing instance is an error. */
export function keptRelease(instance: string, kept: Release | undefined, asked: Release | undefined): Release {
  if (kept && asked && kept !== asked) {
    const env = instance === 'lab' ? '' : `RIGGER_LAB=${instance} `;
    throw new LabError(
      `lab instance ${instance} runs Debian ${kept} (${RELEASES[kept]}), not ${asked}: its hosts stay on the release they were made with`,
      `${env}npm run lab -- down, then ${env}npm run lab -- up --release ${asked}`,
    );
  }
  return kept ?? asked ?? DEFAULT_RELEASE;
}
