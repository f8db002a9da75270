// Reads D-Bus introspection XML into comparable signatures, to check the live objects against dbus/*.xml.

export interface InterfaceShape {
  methods: Record<string, { in: string; out: string }>;
  properties: Record<string, { type: string; access: string }>;
  signals: Record<string, string>;
}

const attr = (tag: string, name: string) => new RegExp(`\\b${name}="([^"]*)"`).exec(tag)?.[1] ?? '';

export function interfaceShape(xml: string, interfaceName: string): InterfaceShape {
  const withoutComments = xml.replace(/<!--[\s\S]*?-->/g, '');
  const body = new RegExp(`<interface name="${interfaceName.replace(/\./g, '\\.')}">([\\s\\S]*?)</interface>`).exec(
    withoutComments,
  )?.[1];
  if (body === undefined) throw new Error(`interface ${interfaceName} not in the XML`);
  const shape: InterfaceShape = { methods: {}, properties: {}, signals: {} };
  for (const m of body.matchAll(/<method name="(\w+)"\s*(?:\/>|>([\s\S]*?)<\/method>)/g)) {
    const args = [...(m[2] ?? '').matchAll(/<arg\b[^>]*>/g)].map((a) => a[0]);
    shape.methods[m[1]] = {
      in: args.filter((a) => attr(a, 'direction') !== 'out').map((a) => attr(a, 'type')).join(''),
      out: args.filter((a) => attr(a, 'direction') === 'out').map((a) => attr(a, 'type')).join(''),
    };
  }
  for (const s of body.matchAll(/<signal name="(\w+)"\s*(?:\/>|>([\s\S]*?)<\/signal>)/g)) {
    shape.signals[s[1]] = [...(s[2] ?? '').matchAll(/<arg\b[^>]*>/g)].map((a) => attr(a[0], 'type')).join('');
  }
  for (const p of body.matchAll(/<property\b[^>]*>/g)) {
    shape.properties[attr(p[0], 'name')] = { type: attr(p[0], 'type'), access: attr(p[0], 'access') };
  }
  return shape;
}
