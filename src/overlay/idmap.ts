/**
 * uidmapping=/gidmapping= (LAYERID:MOUNTID:LEN triples) and the squash
 * options. Stat maps layer → mount; writes map mount → layer; unmapped ids
 * show as the overflow id (65534), as fuse-overlayfs does.
 */
import type { IdMapping } from './options.js';

export const OVERFLOW_ID = 65534;

export class IdMap {
  constructor(private readonly maps: IdMapping[] = [], private readonly squash?: number) {}

  toMount(id: number): number {
    if (this.squash !== undefined) return this.squash;
    if (!this.maps.length) return id;
    for (const m of this.maps) if (id >= m.layer && id < m.layer + m.len) return m.mount + (id - m.layer);
    return OVERFLOW_ID;
  }

  toLayer(id: number): number {
    if (!this.maps.length) return id;
    for (const m of this.maps) if (id >= m.mount && id < m.mount + m.len) return m.layer + (id - m.mount);
    return OVERFLOW_ID;
  }
}
