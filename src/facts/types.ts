import { z } from 'zod';

export const InterfaceFacts = z.object({
  name: z.string(),
  ipv4: z.array(z.string()),
  ipv6: z.array(z.string()),
});

export const FactsSchema = z.object({
  hostname: z.string(),
  fqdn: z.string(),
  os: z.object({
    family: z.string(), // 'debian', 'rhel', ... (ID_LIKE or ID)
    id: z.string(), // 'debian'
    version: z.string(), // '12'
    codename: z.string(), // 'bookworm'
    kernel: z.string(),
  }),
  arch: z.string(),
  packageManager: z.enum(['apt', 'dnf', 'yum', 'zypper', 'apk', 'unknown']),
  serviceManager: z.enum(['systemd', 'openrc', 'sysvinit', 'unknown']),
  virtualization: z.object({
    /** 'none', 'systemd-nspawn', 'docker', 'lxc', 'kvm', ... from systemd-detect-virt */
    type: z.string(),
    container: z.boolean(),
  }),
  cpus: z.number().int(),
  memoryMb: z.number().int(),
  interfaces: z.array(InterfaceFacts),
  defaultIpv4: z.object({ interface: z.string(), address: z.string(), gateway: z.string() }).nullable(),
  user: z.string(),
});
export type Facts = z.infer<typeof FactsSchema>;
