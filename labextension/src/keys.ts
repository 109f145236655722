// Keyboard shortcuts for nb-mlops widgets that ask for them (the annotation widget). ipywidgets
// have no key events, so the page gets one keydown listener: a key pressed while the focus is
// inside an element of class `nbm-annotator` (and not in a text field) clicks the button of that
// element carrying the class `nbm-key-<key>` (`nbm-key-4`, `nbm-key-a`, `nbm-key-enter`,
// `nbm-key-arrowleft`...). The listener runs first (window, capture phase) and swallows the
// keys it owns, so the notebook's command-mode shortcuts (1 = heading, a/b = insert a cell,
// d d = delete...) never see them. Pressing on the widget gives it the focus. Without this
// extension the buttons still work with the mouse.
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';

/** The class of an element whose keys this listener handles. */
export const KEYED_CLASS = 'nbm-annotator';

/** A button answering key K carries the class KEY_PREFIX + K (K lower-case, see keyName). */
export const KEY_PREFIX = 'nbm-key-';

/** Named keys the widgets may bind (everything else with a name is left to the page). */
const NAMED_KEYS = new Set(['enter', 'arrowleft', 'arrowright', 'arrowup', 'arrowdown']);

/** Elements that take typed text: keys typed there are theirs. */
const TEXT_FIELDS = 'input, textarea, select, [contenteditable=""], [contenteditable="true"]';

/** Elements that take the focus themselves when pressed. */
const FOCUSABLE = 'button, a[href], input, textarea, select, [tabindex], [contenteditable]';

/**
 * The key's name as a button class suffix, or null for keys the listener leaves alone: keys with
 * Ctrl, Alt or Meta (copy, save, browser shortcuts), Shift+Enter (runs the cell), Tab, Escape
 * (leaves to the notebook), Space (activates the focused button natively). A letter or digit is
 * the character typed; when that is not a Latin letter or a digit (a Korean layout types "ㅁ" on
 * the A key, a French one "&" on the 1 key), the key's place on the keyboard names it, as the
 * notebook's own shortcuts do.
 */
export function keyName(event: KeyboardEvent): string | null {
  if (event.ctrlKey || event.altKey || event.metaKey || event.isComposing) {
    return null;
  }
  const key = event.key;
  if (key.length === 1) {
    const lower = key.toLowerCase();
    if (/^[0-9a-z]$/.test(lower)) {
      return lower;
    }
    const place = /^(?:Key([A-Z])|Digit([0-9]))$/.exec(event.code ?? '');
    return place ? (place[1] ?? place[2]).toLowerCase() : null;
  }
  const named = key.toLowerCase();
  if (event.shiftKey || !NAMED_KEYS.has(named)) {
    return null;
  }
  return named;
}

/** The keyed widget an event happened in, or null (outside one, or typing in a text field). */
export function keyedRoot(target: EventTarget | null): HTMLElement | null {
  if (!(target instanceof Element)) {
    return null;
  }
  const root = target.closest<HTMLElement>(`.${KEYED_CLASS}`);
  if (!root) {
    return null;
  }
  const field = target.closest(TEXT_FIELDS);
  return field && root.contains(field) ? null : root;
}

/** The enabled, visible button of `root` bound to key `name` (nested keyed widgets excluded). */
export function keyButton(root: HTMLElement, name: string): HTMLElement | null {
  const found = root.querySelectorAll<HTMLElement>(`.${KEY_PREFIX}${CSS.escape(name)}`);
  for (const el of Array.from(found)) {
    if (el.closest(`.${KEYED_CLASS}`) !== root) {
      continue;
    }
    if ((el as HTMLButtonElement).disabled || el.getClientRects().length === 0) {
      continue; // disabled, or hidden (display: none)
    }
    return el;
  }
  return null;
}

/** After a keyed click, the quiet time (no DOM change) that says the kernel's answer is in. */
export const QUIET_MS = 120;

/** The longest a keyed click holds the next keys back (a kernel that does not answer). */
export const MAX_WAIT_MS = 1500;

/** Keys pressed while the widget's answer to the previous one is still on its way. */
const waiting = new WeakMap<HTMLElement, string[]>();

/**
 * Clicks the button bound to `name`, then holds later keys back until the widget has redrawn
 * (no DOM change in it for QUIET_MS, or MAX_WAIT_MS passed): typing "4 5 Enter" quickly must
 * rate the *next* criterion with 5, which only the kernel's answer marks active. False when no
 * button is bound to the key.
 */
export function press(root: HTMLElement, name: string): boolean {
  const button = keyButton(root, name);
  if (!button) {
    return false;
  }
  // The focus goes to the widget itself: the pressed button may be redrawn or hidden by the
  // kernel's answer, and a focus lost to the page would end the shortcuts.
  focusRoot(root);
  const queue: string[] = [];
  waiting.set(root, queue);
  let quiet = 0;
  const finish = () => {
    observer.disconnect();
    window.clearTimeout(quiet);
    window.clearTimeout(limit);
    if (waiting.get(root) === queue) {
      waiting.delete(root);
    }
    while (queue.length > 0) {
      const next = queue.shift() as string;
      if (press(root, next)) {
        waiting.get(root)?.push(...queue);
        return;
      }
    }
  };
  const observer = new MutationObserver(() => {
    window.clearTimeout(quiet);
    quiet = window.setTimeout(finish, QUIET_MS);
  });
  observer.observe(root, { subtree: true, childList: true, attributes: true, characterData: true });
  const limit = window.setTimeout(finish, MAX_WAIT_MS);
  button.click();
  return true;
}

/**
 * A key inside a keyed widget never reaches the notebook (stopPropagation): in command mode,
 * letters and digits would edit the notebook, Enter would open the cell's editor (and the next
 * keys would type into it), arrows would move to another cell. A key with a bound button clicks
 * it (or waits for the previous key's answer). An unbound letter or digit does nothing at all; an
 * unbound Enter on a focused button (reached with Tab) still presses that button, and unbound
 * arrows still scroll the page.
 */
export function onKeydown(event: KeyboardEvent): void {
  const root = keyedRoot(event.target);
  const name = root ? keyName(event) : null;
  if (!root || !name) {
    return;
  }
  event.stopPropagation();
  const queue = waiting.get(root);
  if (queue) {
    event.preventDefault();
    if (!event.repeat) {
      queue.push(name);
    }
    return;
  }
  if (keyButton(root, name)) {
    event.preventDefault();
    if (!event.repeat) {
      press(root, name);
    }
  } else if (/^[0-9a-z]$/.test(name)) {
    event.preventDefault();
  } else if (name === 'enter' && !(event.target instanceof HTMLButtonElement)) {
    event.preventDefault();
  }
}

/** Gives the keyed widget the focus (it is made focusable first). */
export function focusRoot(root: HTMLElement): void {
  if (!root.hasAttribute('tabindex')) {
    root.setAttribute('tabindex', '0');
  }
  if (document.activeElement !== root) {
    root.focus({ preventScroll: true });
  }
}

/** Pressing on a keyed widget (not on a control of its own) gives the widget the focus. */
export function onPointerdown(event: PointerEvent): void {
  const target = event.target;
  if (!(target instanceof Element)) {
    return;
  }
  const root = target.closest<HTMLElement>(`.${KEYED_CLASS}`);
  if (!root) {
    return;
  }
  const control = target.closest(FOCUSABLE);
  if (control && control !== root && root.contains(control)) {
    return; // a button or field: the browser focuses it, and keys still reach the widget
  }
  focusRoot(root);
}

/** Adds the page's listeners (once); returns a function that removes them. */
export function installKeys(win: Window = window): () => void {
  win.addEventListener('keydown', onKeydown, true);
  win.addEventListener('pointerdown', onPointerdown, true);
  return () => {
    win.removeEventListener('keydown', onKeydown, true);
    win.removeEventListener('pointerdown', onPointerdown, true);
  };
}

/** The keyboard shortcuts of nb-mlops widgets, in JupyterLab 4 and Notebook 7. */
export const keysPlugin: JupyterFrontEndPlugin<void> = {
  id: 'nb-mlops:keys',
  description: 'Keyboard shortcuts for the nb-mlops annotation widget.',
  autoStart: true,
  activate: (_app: JupyterFrontEnd) => {
    installKeys();
  }
};
