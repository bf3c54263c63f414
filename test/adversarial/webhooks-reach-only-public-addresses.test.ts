/**
 * Promise: unless the operator passes `--allow-private-webhooks`, a webhook reaches only public
 * addresses — whatever spelling of an address the URL uses (IPv6 forms that embed an IPv4
 * address, NAT64, 6to4, Teredo…), and whatever a name resolves to between the check and the
 * connection (DNS rebinding).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nonPublicRange, isPrivateAddress, resolvePublicTarget } from '../../src/server/webhooks/address-guard.js';
import { ROOT, TSX_IMPORT, tempDir } from '../helpers.js';
import { api, disposeServer, startServerProcess, type ServerProcess } from '../server/helpers.js';

/** Spellings of this machine, private networks and reserved ranges that must never be a target. */
const NOT_PUBLIC: ReadonlyArray<[address: string, why: RegExp]> = [
  // IPv4
  ['0.0.0.0', /this network/],
  ['0.1.2.3', /this network/],
  ['10.1.2.3', /private/],
  ['100.64.0.1', /shared/],
  ['127.0.0.1', /loopback/],
  ['127.255.255.254', /loopback/],
  ['169.254.169.254', /link-local/],
  ['172.16.0.1', /private/],
  ['172.31.255.255', /private/],
  ['192.0.0.8', /IETF/],
  ['192.0.2.1', /documentation/],
  ['192.168.1.1', /private/],
  ['198.18.0.1', /benchmarking/],
  ['198.19.255.1', /benchmarking/],
  ['198.51.100.7', /documentation/],
  ['203.0.113.9', /documentation/],
  ['224.0.0.1', /multicast/],
  ['239.255.255.250', /multicast/],
  ['240.0.0.1', /reserved/],
  ['255.255.255.255', /broadcast/],
  // IPv6 ranges
  ['::', /unspecified/],
  ['::1', /loopback/],
  ['fe80::1', /link-local/],
  ['febf::1', /link-local/],
  ['fec0::1', /site-local/],
  ['fc00::1', /unique-local/],
  ['fd12:3456::1', /unique-local/],
  ['ff02::1', /multicast/],
  ['2001:db8::1', /documentation/],
  ['3fff::1', /documentation/],
  ['100::1', /discard/],
  ['2001:2::1', /IETF/],
  ['4000::1', /not global unicast/],
  ['fe80::1%eth0', /scoped/],
  // IPv6 forms that carry an IPv4 address of this machine or of a private network
  ['::ffff:127.0.0.1', /IPv4-mapped.*loopback/],
  ['::ffff:7f00:1', /IPv4-mapped.*loopback/],
  ['::ffff:a00:1', /IPv4-mapped.*private/],
  ['::127.0.0.1', /IPv4-compatible.*loopback/],
  ['::7f00:1', /IPv4-compatible.*loopback/],
  ['::a9fe:a9fe', /IPv4-compatible.*link-local/],
  ['::ffff:0:127.0.0.1', /IPv4-translated.*loopback/],
  ['::ffff:0:7f00:1', /IPv4-translated.*loopback/],
  ['64:ff9b::7f00:1', /NAT64.*loopback/],
  ['64:ff9b::10.0.0.1', /NAT64.*private/],
  ['64:ff9b:1::808:808', /local-use NAT64/],
  ['2002:7f00:1::', /6to4.*loopback/],
  ['2002:c0a8:101::1', /6to4.*private/],
  ['2001:0:4136:e378:8000:63bf:80ff:fffe', /Teredo.*loopback/], // client 127.0.0.1, XOR-ed
  ['2001:0:a00:1:8000:63bf:f7f7:f7f7', /Teredo.*private/], // server 10.0.0.1
  ['2001:4860::5efe:a00:1', /ISATAP.*private/],
];

/** Public addresses, in the same spellings: these stay allowed. */
const PUBLIC = [
  '8.8.8.8',
  '1.1.1.1',
  '2606:4700:4700::1111',
  '2a00:1450:4001:80b::200e',
  '::ffff:8.8.8.8',
  '64:ff9b::808:808',
  '2002:808:808::1',
  '2001:0:4136:e378:8000:63bf:f7f7:f7f7', // Teredo: server 65.54.227.120, client 8.8.8.8
];

describe('webhooks reach only public addresses', () => {
  it('classifies every IPv4 range that is not public, and every IPv6 form that carries one', () => {
    for (const [address, why] of NOT_PUBLIC) {
      expect(nonPublicRange(address), address).toMatch(why);
      expect(isPrivateAddress(address), address).toBe(true);
    }
    for (const address of PUBLIC) expect(nonPublicRange(address), address).toBeUndefined();
    expect(nonPublicRange('not-an-address'), 'garbage').toMatch(/not an IP address/);
  });

  it('refuses a name when any of its addresses is not public, and connects to the address it checked', async () => {
    const answers: Record<string, string[]> = {
      'mixed.example': ['8.8.8.8', '127.0.0.1'],
      'mapped.example': ['2606:4700:4700::1111', '::ffff:7f00:1'],
      'public.example': ['8.8.4.4', '2606:4700:4700::1001'],
      'nowhere.example': [],
    };
    const lookups: string[] = [];
    const resolver = async (host: string): Promise<string[]> => {
      lookups.push(host);
      return answers[host] ?? [];
    };
    expect(await resolvePublicTarget('http://mixed.example/hook', resolver)).toEqual({ refused: 'mixed.example resolves to 127.0.0.1 (loopback)' });
    expect(await resolvePublicTarget('https://mapped.example/', resolver)).toMatchObject({ refused: expect.stringMatching(/::ffff:7f00:1 .*IPv4-mapped 127\.0\.0\.1/) });
    expect(await resolvePublicTarget('http://nowhere.example/', resolver)).toEqual({ refused: 'nowhere.example does not resolve' });
    expect(await resolvePublicTarget('http://public.example:8443/x', resolver)).toEqual({
      addresses: [
        { address: '8.8.4.4', family: 4 },
        { address: '2606:4700:4700::1001', family: 6 },
      ],
    });
    // Names of this machine never reach the resolver; literals are checked as they are.
    for (const url of ['http://localhost/', 'http://LOCALHOST./', 'http://api.localhost/']) expect(await resolvePublicTarget(url, resolver), url).toMatchObject({ refused: expect.stringContaining('this machine') });
    expect(await resolvePublicTarget('http://[::ffff:0:127.0.0.1]/', resolver)).toMatchObject({ refused: expect.stringContaining('IPv4-translated 127.0.0.1') });
    expect(await resolvePublicTarget('http://0x7f.1/', resolver)).toEqual({ refused: '127.0.0.1 is not public (loopback)' });
    expect(lookups).toEqual(['mixed.example', 'mapped.example', 'nowhere.example', 'public.example']);
  });

  describe('a server without --allow-private-webhooks', () => {
    let server: ServerProcess | undefined;
    beforeAll(async () => {
      server = await startServerProcess();
    });
    afterAll(async () => {
      await disposeServer(server);
    });

    it('refuses to register targets spelled as IPv6 forms of loopback and private IPv4 addresses', async () => {
      const urls = [
        'http://[::127.0.0.1]/',
        'http://[64:ff9b::7f00:1]/',
        'http://[2002:7f00:1::]/',
        'http://[::ffff:0:127.0.0.1]/',
        'http://[::ffff:127.0.0.1]:8080/hook',
        'http://[::a9fe:a9fe]/latest/meta-data',
        'http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/',
        'http://[64:ff9b:1::a00:1]/',
        'http://0x7f000001/',
        'http://localhost./',
      ];
      for (const url of urls) {
        const r = await api(server!, 'POST', '/v1/webhooks', server!.keys.admin, { url });
        expect(r.status, url).toBe(400);
        expect(r.body.error.details.issues[0].path, url).toBe('body.url');
      }
      const listed = await api(server!, 'GET', '/v1/webhooks', server!.keys.admin);
      expect(listed.body.webhooks).toEqual([]);
    });
  });

  it('delivers to the address it checked, never to 127.0.0.1 that the name rebinds to in between (real DNS, own network namespace)', async () => {
    // A private network namespace: its own loopback, a "public" address on it, and a resolv.conf
    // pointing at the fixture's rebinding name server. Nothing leaves this machine.
    const dir = tempDir('ascend-rebind-');
    const resolvConf = path.join(dir, 'resolv.conf');
    fs.writeFileSync(resolvConf, 'nameserver 127.0.0.1\noptions attempts:1 timeout:1\n');
    const publicAddress = '1.2.3.4';
    const script = 'ip link set lo up && ip addr add "$PUBLIC_ADDRESS"/32 dev lo && mount --bind "$RESOLV_CONF" /etc/resolv.conf && exec "$@"';
    const child = spawn(
      'unshare',
      ['--net', '--mount', '--pid', '--fork', '--kill-child', '--mount-proc', 'sh', '-c', script, 'sh', process.execPath, '--import', TSX_IMPORT, path.join(ROOT, 'test/adversarial/fixtures/dns-rebinding-webhook.ts')],
      { cwd: ROOT, env: { ...process.env, PUBLIC_ADDRESS: publicAddress, RESOLV_CONF: resolvConf }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code, stderr).toBe(0);
      const result = JSON.parse(stdout.trim().split('\n').pop()!) as {
        port: number;
        publicHosts: string[];
        loopbackHosts: string[];
        answers: string[];
        delivery: { status: string; attempts: number };
      };
      // The name server did rebind: loopback answers were given while the delivery was retried.
      expect(result.answers).toContain('127.0.0.1');
      expect(result.loopbackHosts).toEqual([]);
      expect(result.delivery.status).toBe('delivered');
      // Delivered to the checked public address, with the name (not the address) as Host.
      expect(result.publicHosts).toEqual([`rebind.test:${result.port}`]);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
