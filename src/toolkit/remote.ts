/** One `Remote` type for every helper that runs scripts on a host (defined by the transport layer). */
export type { Remote } from '../transport/types.ts';
