import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { loadSettings } from '@ballast/runtime';
import yaml from 'js-yaml';
import { loadAutoscaleLiveSettings } from '../src/autoscale/autoscale-live-settings.ts';
import { ROLES, START_SETTINGS } from '../src/settings.ts';

/** The Kubernetes manifests are checked offline (no cluster here) against Ballast's own rules. */
const root = resolve(import.meta.dirname, '../../..');
const base = join(root, 'deploy/k8s/base');

type Doc = Record<string, any>;
const files = readdirSync(base).filter((f) => f.endsWith('.yaml'));
const docs: Doc[] = files
  .filter((f) => f !== 'kustomization.yaml')
  .flatMap((f) => yaml.loadAll(readFileSync(join(base, f), 'utf8')) as Doc[])
  .filter((d) => d !== null && d !== undefined);
const ofKind = (kind: string): Doc[] => docs.filter((d) => d.kind === kind);
const config = ofKind('ConfigMap').find((d) => d.metadata.name === 'ballast-config')!;
const matches = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

/** The environment a container gets: its ConfigMaps, then its own entries ($(VAR) expanded). */
function containerEnv(c: Doc): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    const cm = ofKind('ConfigMap').find((d) => d.metadata.name === from.configMapRef.name);
    assert.ok(cm, `ConfigMap ${from.configMapRef.name} exists`);
    Object.assign(env, cm.data);
  }
  for (const e of c.env ?? []) {
    // Secrets and pod fields stand in with values of the right shape.
    env[e.name] =
      e.value !== undefined
        ? String(e.value).replace(/\$\(([A-Z_]+)\)/g, (_m, v: string) => env[v] ?? '')
        : e.valueFrom?.fieldRef !== undefined
          ? '10.1.2.3'
          : 'secret-from-kubernetes-0123456789';
  }
  return env;
}

describe('Kubernetes manifests (deploy/k8s/base)', () => {
  it('lists every manifest file in its kustomization, and only those', () => {
    const k = yaml.load(readFileSync(join(base, 'kustomization.yaml'), 'utf8')) as Doc;
    assert.deepEqual([...k.resources].sort(), files.filter((f) => f !== 'kustomization.yaml').sort());
    for (const d of docs)
      assert.ok(d.apiVersion && d.kind && d.metadata?.name, `complete header: ${JSON.stringify(d)}`);
  });

  it('runs every role in a Deployment whose arguments and environment Ballast accepts', () => {
    for (const role of ROLES) {
      const deps = ofKind('Deployment').filter(
        (d) => d.spec.template.metadata.labels['app.kubernetes.io/component'] === role,
      );
      assert.equal(deps.length, 1, `one Deployment for ${role}`);
      const d = deps[0]!;
      assert.ok(
        matches(d.spec.selector.matchLabels, d.spec.template.metadata.labels),
        `${role}: selector matches pods`,
      );
      const c = d.spec.template.spec.containers[0];
      assert.equal(c.args[0], 'start');
      // The same validation `ballast start` does: unknown or invalid settings would exit 2.
      const s = loadSettings(START_SETTINGS, c.args.slice(1), containerEnv(c));
      assert.deepEqual(s.roles, [role]);
      assert.ok(s.postgresUrl !== '' && s.natsUrl !== '', `${role}: external stores configured`);
      assert.equal(s.httpHost, '0.0.0.0', `${role}: probes reach the pod address`);
      const port = c.ports.find((p: Doc) => p.name === 'http');
      assert.equal(port.containerPort, s.httpPort, `${role}: the http port is the one it listens on`);
      assert.equal(c.readinessProbe.httpGet.path, '/readyz');
      assert.equal(c.livenessProbe.httpGet.path, '/livez');
      // Drain (SIGTERM → readiness 503 → finish in flight) completes before Kubernetes kills.
      assert.ok(
        d.spec.template.spec.terminationGracePeriodSeconds * 1000 > s.shutdownGraceMs,
        `${role}: grace period longer than --shutdown-grace-ms`,
      );
      if (role === 'gateway' || role === 'oms') assert.ok(s.internalToken.length >= 16, `${role}: internal token`);
      if (role === 'oms') assert.match(s.advertiseUrl, /^http:\/\/10\.1\.2\.3:8080$/, 'oms advertises its pod address');
    }
  });

  it('points every Service, disruption budget and autoscaler at an existing Deployment', () => {
    const deps = ofKind('Deployment');
    const podLabels = deps.map((d) => d.spec.template.metadata.labels as Record<string, string>);
    for (const svc of ofKind('Service')) {
      const i = podLabels.findIndex((l) => matches(svc.spec.selector, l));
      assert.ok(i >= 0, `Service ${svc.metadata.name} selects pods`);
      const names = deps[i]!.spec.template.spec.containers.flatMap((c: Doc) => c.ports.map((p: Doc) => p.name));
      for (const p of svc.spec.ports)
        assert.ok(names.includes(p.targetPort), `${svc.metadata.name}: port ${p.targetPort}`);
    }
    for (const pdb of ofKind('PodDisruptionBudget'))
      assert.ok(
        podLabels.some((l) => matches(pdb.spec.selector.matchLabels, l)),
        `PDB ${pdb.metadata.name}`,
      );
    for (const hpa of ofKind('HorizontalPodAutoscaler')) {
      const target = deps.find((d) => d.metadata.name === hpa.spec.scaleTargetRef.name);
      assert.ok(target, `HPA ${hpa.metadata.name} targets a Deployment`);
      const role = target.spec.template.metadata.labels['app.kubernetes.io/component'];
      // A symbol's book lives on one engine: more matching replicas add standbys, not capacity.
      assert.notEqual(role, 'matching', 'matching is never under an HPA');
      assert.ok(hpa.spec.minReplicas <= target.spec.replicas && target.spec.replicas <= hpa.spec.maxReplicas);
    }
  });

  it('keeps a hot standby for every matching shard and spreads them over nodes', () => {
    const m = ofKind('Deployment').find((d) => d.metadata.name === 'ballast-matching')!;
    assert.ok(m.spec.replicas >= 2);
    const anti = m.spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0];
    assert.equal(anti.podAffinityTerm.topologyKey, 'kubernetes.io/hostname');
    assert.ok(matches(anti.podAffinityTerm.labelSelector.matchLabels, m.spec.template.metadata.labels));
  });

  it('stores nothing on the container filesystem: the data folder is on the scratch volume', () => {
    assert.match(config.data.BALLAST_DATA_DIR, /^\/tmp\//);
    for (const d of ofKind('Deployment')) {
      const c = d.spec.template.spec.containers[0];
      assert.equal(c.securityContext.readOnlyRootFilesystem, true);
      assert.ok(
        c.volumeMounts.some((v: Doc) => v.mountPath === '/tmp'),
        `${d.metadata.name} mounts /tmp`,
      );
    }
  });

  it('builds the image the manifests run from the sources Ballast starts from', () => {
    const dockerfile = readFileSync(join(root, 'deploy/docker/Dockerfile'), 'utf8');
    const entry = /ENTRYPOINT \["node", "([^"]+)"\]/.exec(dockerfile)?.[1];
    assert.equal(entry, 'services/ballast/src/main.ts');
    const major = Number(/FROM node:(\d+)/.exec(dockerfile)?.[1]);
    assert.ok(major >= 24, 'Node 24 runs the TypeScript sources');
  });

  it("hands gateway and oms to Ballast's recommender in the autoscaler overlay, with the rights it uses", () => {
    const dir = join(root, 'deploy/k8s/autoscaler');
    const k = yaml.load(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as Doc;
    assert.deepEqual(k.resources, ['../base', 'autoscaler.yaml']);
    const own = (yaml.loadAll(readFileSync(join(dir, 'autoscaler.yaml'), 'utf8')) as Doc[]).filter(Boolean);
    const dep = own.find((d) => d.kind === 'Deployment')!;
    const c = dep.spec.template.spec.containers[0];
    assert.deepEqual(c.args.slice(0, 2), ['autoscale', 'live']);
    const settings = loadAutoscaleLiveSettings(c.args.slice(2), {});
    assert.equal(settings.kubernetes, true);
    // Two controllers must not fight over one replica count: the overlay deletes the HPAs of
    // exactly the roles the recommender scales.
    const deleted = (k.patches as Doc[]).map((p) => yaml.load(p.patch) as Doc);
    assert.ok(deleted.every((d) => d.$patch === 'delete' && d.kind === 'HorizontalPodAutoscaler'));
    const hpaRoles = deleted.map((d) => {
      const hpa = ofKind('HorizontalPodAutoscaler').find((h) => h.metadata.name === d.metadata.name);
      assert.ok(hpa, `the base has HPA ${d.metadata.name}`);
      return hpa.spec.scaleTargetRef.name.replace(/^ballast-/, '');
    });
    assert.deepEqual([...hpaRoles].sort(), [...settings.roles].sort());
    for (const role of settings.roles)
      assert.ok(ofKind('Deployment').some((d) => d.metadata.name === `ballast-${role}`));
    // Its own pods are not Ballast replicas (it lists app.kubernetes.io/name=ballast).
    assert.notEqual(dep.spec.template.metadata.labels['app.kubernetes.io/name'], 'ballast');
    const role = own.find((d) => d.kind === 'Role')!;
    const verbs = (res: string) =>
      role.rules.filter((r: Doc) => r.resources.includes(res)).flatMap((r: Doc) => r.verbs);
    for (const v of ['list', 'patch']) assert.ok(verbs('pods').includes(v), `pods: ${v}`);
    assert.ok(verbs('deployments/scale').includes('patch'));
    const binding = own.find((d) => d.kind === 'RoleBinding')!;
    assert.equal(binding.roleRef.name, role.metadata.name);
    assert.equal(binding.subjects[0].name, dep.spec.template.spec.serviceAccountName);
  });
});
