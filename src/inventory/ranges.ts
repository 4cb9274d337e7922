/**
 * Ansible host ranges: `pg[1:3]` -> pg1 pg2 pg3, `db[01:10:3]` keeps the zero padding,
 * `node-[a:c]` walks letters. A name may hold several ranges.
 */
export function expandHostRange(pattern: string): string[] | { error: string } {
  const m = /^(.*?)\[([^\]]*)\](.*)$/.exec(pattern);
  if (!m) return [pattern];
  const [, head, body, tail] = m as unknown as [string, string, string, string];
  const parts = body.split(':');
  if (parts.length < 2 || parts.length > 3) return { error: `host range [${body}]: expected [start:end] or [start:end:step]` };
  const [start, end, stepText] = parts as [string, string, string | undefined];
  const step = stepText === undefined || stepText === '' ? 1 : Number(stepText);
  if (!Number.isInteger(step) || step < 1) return { error: `host range [${body}]: step must be a positive integer` };
  let items: string[];
  if (/^\d*$/.test(start) && /^\d+$/.test(end)) {
    const from = start === '' ? 0 : Number(start);
    const to = Number(end);
    if (from > to) return { error: `host range [${body}]: start is after end` };
    const width = start.startsWith('0') && start.length > 1 ? start.length : 0;
    items = [];
    for (let i = from; i <= to; i += step) items.push(String(i).padStart(width, '0'));
  } else if (/^[a-z]$/i.test(start) && /^[a-z]$/i.test(end)) {
    const from = start.charCodeAt(0);
    const to = end.charCodeAt(0);
    if (from > to) return { error: `host range [${body}]: start is after end` };
    items = [];
    for (let c = from; c <= to; c += step) items.push(String.fromCharCode(c));
  } else {
    return { error: `host range [${body}]: expected numbers or single letters` };
  }
  const rest = expandHostRange(tail);
  if (!Array.isArray(rest)) return rest;
  return items.flatMap((i) => rest.map((r) => `${head}${i}${r}`));
}
