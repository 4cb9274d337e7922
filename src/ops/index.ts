/**
 * The ops: idempotent primitives that roles are built from. Each returns an OpTask (probe,
 * then plan) or, for waitFor, a read-only RunTask.
 */
export { file, atomicWriteScript, type FileOptions } from './file.ts';
export { directory, type DirectoryOptions } from './directory.ts';
export { packages, type PackagesOptions } from './packages.ts';
export { service, type ServiceOptions } from './service.ts';
export { user, type UserOptions } from './user.ts';
export { group, type GroupOptions } from './group.ts';
export { command, type CommandOptions } from './command.ts';
export { sysctl, SYSCTL_FILE, type SysctlOptions } from './sysctl.ts';
export { kernelModule, type KernelModuleOptions } from './kernel-module.ts';
export { waitFor, type WaitForOptions } from './wait-for.ts';
export { OpSpecError, type OpCommon, type NamedOpCommon } from './common.ts';
