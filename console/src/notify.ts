/** What an action tells the operator: the flash line at the top of the page. */
export type Notify = (kind: 'ok' | 'error', text: string) => void;
