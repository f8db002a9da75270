// How `splicectl monitor` shows an event: one line of text, one JSON object, or one desktop notification
// (docs/cli.md, "monitor"). Every string from the bus is flattened to one line, so no event can forge another.

import type { MonitorEvent } from './events';

/** Control characters (newlines included) become spaces: one event, one line. */
const oneLine = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ');

/** The offered source version, with the image package built from it when apt knows one. */
const offeredKernel = (e: Extract<MonitorEvent, { event: 'update-available' }>) =>
  `${e.sourceVersion}${e.imagePackage ? ` (${e.imagePackage})` : ''}`;

export function eventLine(e: MonitorEvent): string {
  const at = e.at.toISOString();
  switch (e.event) {
    case 'applied':
      return oneLine(
        `${at} applied ${e.id} (${e.name})${e.description ? `: ${e.description}` : ''}; ` +
          (e.cves.length > 0 ? `fixes ${e.cves.join(', ')}` : 'no CVEs declared'),
      );
    case 'reverted':
      return oneLine(`${at} reverted ${e.id} (${e.name})`);
    case 'failed':
      return oneLine(`${at} failed ${e.target}${e.id ? ` [${e.id} (${e.name})]` : ''}: ${e.errorMessage} (${e.errorKind})`);
    case 'reboot-required':
      return oneLine(`${at} reboot-required: ${e.reasons.join('; ')}`);
    case 'update-available':
      return oneLine(`${at} update-available: Debian linux ${offeredKernel(e)}; feed_policy ${e.policy}`);
    default:
      return `${at} ${e.event}`;
  }
}

/** One JSON object (on one line): the event's fields, `at` as ISO 8601, unknown values null. */
export function eventJson(e: MonitorEvent): string {
  return JSON.stringify({ ...e, at: e.at.toISOString() });
}

export interface NotificationServer {
  /** The server shows action buttons (GetCapabilities has "actions"). */
  actions: boolean;
  /** The server reads markup in the body (GetCapabilities has "body-markup"): text must be escaped. */
  markup: boolean;
}

/** The arguments of org.freedesktop.Notifications.Notify, less app name and replaces_id. */
export interface Notification {
  icon: string;
  summary: string;
  body: string;
  /** Alternating action keys and labels. */
  actions: string[];
  /** 0 low, 1 normal, 2 critical (the spec's urgency hint). */
  urgency: number;
}

export const APP_NAME = 'spliced';
/** The XDG desktop entry (units/spliced-notifier.desktop): servers take the app's name and icon from it. */
export const DESKTOP_ENTRY = 'spliced-notifier';
/**
 * "Show details" twice: as the default action (a click on the notification; servers show no button for it) and as a
 * button, for servers that show buttons only.
 */
export const DETAILS_ACTIONS = ['default', 'details'];
const DETAILS_LABEL = 'Show details';
const NORMAL = 1;
const CRITICAL = 2;
/** Servers show a few lines; a daemon's message can be long. */
const MAX_SUMMARY = 120;
const MAX_BODY = 1000;

/** What spliced does next with an offered version, by feed_policy (docs/feed.md). */
const FEED_NEXT_STEP: Record<string, string> = {
  auto: 'spliced builds it and applies it without a reboot.',
  build: 'spliced builds it; an administrator applies it (splicectl status names the module).',
  notify: 'spliced only reports it (feed_policy notify): install it and reboot, or let spliced build it.',
};

const clip = (s: string, max: number) => (s.length <= max ? s : `${s.slice(0, max - 1)}…`);
/** Keeps newlines (servers show them), drops other control characters. */
const plain = (s: string) => s.replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]+/g, ' ');
const escapeMarkup = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The notification of an event, or null: spliced stopping or starting is for the log, not for the desktop. */
export function notificationOf(e: MonitorEvent, server: NotificationServer): Notification | null {
  const make = (icon: string, summary: string, lines: string[], urgency: number, details: boolean): Notification => {
    const body = clip(plain(lines.join('\n')), MAX_BODY);
    return {
      icon,
      summary: clip(oneLine(summary), MAX_SUMMARY),
      body: server.markup ? escapeMarkup(body) : body,
      actions: details && server.actions ? DETAILS_ACTIONS.flatMap((key) => [key, DETAILS_LABEL]) : [],
      urgency,
    };
  };
  switch (e.event) {
    case 'applied':
      return make(
        'software-update-available',
        'Kernel patched without a reboot',
        [
          e.description ?? e.name,
          e.cves.length > 0 ? `Fixes ${e.cves.join(', ')}` : 'No CVEs declared',
          `Patch ${e.id}${e.version ? `, brings ${e.version}` : ''}`,
        ],
        NORMAL,
        true,
      );
    case 'reverted':
      return make('dialog-information', 'Kernel patch reverted', [`Patch ${e.id} (${e.name}) is no longer live`], NORMAL, true);
    case 'failed':
      return make(
        'dialog-error',
        `Kernel patch failed: ${e.errorKind}`,
        // The target only when the message does not already name it.
        [e.errorMessage, ...(e.id ? [`Patch ${e.id} (${e.name})`] : e.errorMessage.includes(e.target) ? [] : [e.target])],
        CRITICAL,
        e.id !== null,
      );
    case 'reboot-required':
      return make('software-update-urgent', 'Reboot required', e.reasons, CRITICAL, false);
    case 'update-available':
      return make(
        'software-update-available',
        `Kernel update ${e.sourceVersion} available`,
        [`Debian's linux ${offeredKernel(e)} is offered.`, FEED_NEXT_STEP[e.policy] ?? `feed_policy ${e.policy}`],
        NORMAL,
        false,
      );
    default:
      return null;
  }
}

/** What "Show details" replaces a notification with: `splicectl show` of the patch, as text. */
export function detailsNotification(id: string, details: string, server: NotificationServer): Notification {
  const body = clip(plain(details), MAX_BODY);
  return {
    icon: 'dialog-information',
    summary: clip(oneLine(`Patch ${id}`), MAX_SUMMARY),
    body: server.markup ? escapeMarkup(body) : body,
    actions: [],
    urgency: NORMAL,
  };
}
