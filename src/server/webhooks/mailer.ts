/**
 * Email deliveries: a webhook whose URL is `mailto:` is sent over SMTP (nodemailer) to the server
 * the operator names (`--smtp-url`), instead of POSTed. The message was rendered when the
 * delivery was made (chat-messages.ts `emailMessage`); retries and dead-lettering are the
 * dispatcher's, as for any webhook.
 */
import nodemailer, { type Transporter } from 'nodemailer';

/** The server's SMTP settings. */
export interface SmtpOptions {
  /** `smtp://[user:pass@]host[:port]` (STARTTLS when the server offers it) or `smtps://…`. */
  smtpUrl: string;
  /** The From address, e.g. `Ascend <ascend@example.com>`. */
  from: string;
}

/** A rendered email. */
export interface EmailMessage {
  subject: string;
  text: string;
  html: string;
}

/** Longest an SMTP conversation may stall at any step. */
const SMTP_TIMEOUT_MS = 10_000;

/** The recipients of a `mailto:` URL (comma-separated addresses, no query). */
export function mailtoRecipients(url: string): string[] {
  return decodeURIComponent(url.slice('mailto:'.length))
    .split(',')
    .map((address) => address.trim())
    .filter((address) => address !== '');
}

/** Sends rendered emails through one SMTP server. */
export class SmtpMailer {
  private readonly transporter: Transporter;

  constructor(private readonly options: SmtpOptions) {
    const url = new URL(options.smtpUrl);
    this.transporter = nodemailer.createTransport({
      host: url.hostname,
      port: url.port === '' ? (url.protocol === 'smtps:' ? 465 : 587) : Number(url.port),
      secure: url.protocol === 'smtps:',
      ...(url.username ? { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } } : {}),
      connectionTimeout: SMTP_TIMEOUT_MS,
      greetingTimeout: SMTP_TIMEOUT_MS,
      socketTimeout: SMTP_TIMEOUT_MS,
    });
  }

  /** Send `message` to `to`; rejects when the SMTP server does not accept it. */
  async send(to: readonly string[], message: EmailMessage): Promise<void> {
    await this.transporter.sendMail({ from: this.options.from, to: [...to], subject: message.subject, text: message.text, html: message.html });
  }

  close(): void {
    this.transporter.close();
  }
}
