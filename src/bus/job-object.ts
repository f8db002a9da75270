// org.spliced.Spliced1.Job objects (dbus/org.spliced.Spliced1.Job.xml): one per engine job, at
// /org/spliced/Spliced1/job/<id>, following the job's events with PropertiesChanged and a Finished signal,
// and removed a while after it finished so that late readers still see the outcome.

import * as dbus from 'dbus-next';
import type { Job } from '../engine/types';
import { unexportObject } from './dbus-next-gaps';
import { JOB_INTERFACE, jobPath } from './names';

class JobInterface extends dbus.interface.Interface {
  constructor(private readonly job: Job) {
    super(JOB_INTERFACE);
  }

  get Id(): number {
    return this.job.id;
  }
  get Kind(): string {
    return this.job.kind;
  }
  get Target(): string {
    return this.job.target;
  }
  get State(): string {
    return this.job.state;
  }
  get Progress(): number {
    return Math.min(100, Math.max(0, Math.round(this.job.progress)));
  }
  get Status(): string {
    return this.job.status;
  }
  get Patches(): string[] {
    return this.job.result?.patches.map((p) => p.id) ?? [];
  }
  get ErrorName(): string {
    return this.job.error?.dbusName ?? '';
  }
  get ErrorMessage(): string {
    return this.job.error?.message ?? '';
  }

  Finished(state: string, patches: string[], errorName: string, errorMessage: string): unknown[] {
    return [state, patches, errorName, errorMessage];
  }
}

const CHANGING_PROPERTIES = ['State', 'Progress', 'Status', 'Patches', 'ErrorName', 'ErrorMessage'] as const;
type ChangingProperty = (typeof CHANGING_PROPERTIES)[number];

JobInterface.configureMembers({
  properties: {
    Id: { signature: 'u', access: 'read' },
    Kind: { signature: 's', access: 'read' },
    Target: { signature: 's', access: 'read' },
    State: { signature: 's', access: 'read' },
    Progress: { signature: 'u', access: 'read' },
    Status: { signature: 's', access: 'read' },
    Patches: { signature: 'as', access: 'read' },
    ErrorName: { signature: 's', access: 'read' },
    ErrorMessage: { signature: 's', access: 'read' },
  },
  signals: {
    Finished: { signature: 'sasss' },
  },
});

interface ExportedJob {
  detach(): void;
  removal?: NodeJS.Timeout;
}

export class JobObjects {
  private readonly exported = new Map<number, ExportedJob>();

  constructor(
    private readonly bus: dbus.MessageBus,
    /** How long a finished job stays on the bus. */
    private readonly lingerMs: number,
  ) {}

  /** Export the job (once; later calls return the same path). */
  export(job: Job): string {
    const path = jobPath(job.id);
    if (this.exported.has(job.id)) return path;

    const iface = new JobInterface(job);
    let last = snapshot(iface);
    const publishChanges = () => {
      const now = snapshot(iface);
      const changed: Partial<Record<ChangingProperty, unknown>> = {};
      for (const name of CHANGING_PROPERTIES) {
        if (JSON.stringify(now[name]) !== JSON.stringify(last[name])) changed[name] = now[name];
      }
      last = now;
      if (Object.keys(changed).length > 0) dbus.interface.Interface.emitPropertiesChanged(iface, changed, []);
    };
    const onFinished = () => {
      publishChanges();
      iface.Finished(iface.State, iface.Patches, iface.ErrorName, iface.ErrorMessage);
      this.scheduleRemoval(job.id, path);
    };
    job.on('changed', publishChanges);
    job.once('finished', onFinished);
    this.exported.set(job.id, {
      detach: () => {
        job.off('changed', publishChanges);
        job.off('finished', onFinished);
      },
    });
    this.bus.export(path, iface);
    if (isFinished(job)) this.scheduleRemoval(job.id, path);
    return path;
  }

  /** Unexport every job object now (daemon stop). */
  stop(): void {
    for (const id of [...this.exported.keys()]) this.remove(id, jobPath(id));
  }

  private scheduleRemoval(id: number, path: string): void {
    const entry = this.exported.get(id);
    if (!entry || entry.removal) return;
    entry.removal = setTimeout(() => this.remove(id, path), this.lingerMs);
    entry.removal.unref();
  }

  private remove(id: number, path: string): void {
    const entry = this.exported.get(id);
    if (!entry) return;
    clearTimeout(entry.removal);
    entry.detach();
    this.exported.delete(id);
    unexportObject(this.bus, path);
  }
}

function snapshot(iface: JobInterface): Record<ChangingProperty, unknown> {
  return Object.fromEntries(CHANGING_PROPERTIES.map((name) => [name, iface[name]])) as Record<ChangingProperty, unknown>;
}

function isFinished(job: Job): boolean {
  return job.state === 'succeeded' || job.state === 'failed';
}
