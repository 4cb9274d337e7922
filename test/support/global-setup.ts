/**
 * Once per test run. The lab part (bring the shared lab up once, hand its inventory to the
 * lab tests) is added by the lab module; nothing here yet.
 */
export default async function setup(): Promise<void | (() => Promise<void>)> {}
