/**
 * The open documents, kept in sync by hand from textDocument/didOpen|didChange|didSave|didClose
 * (incremental sync) so every change also reports the line it touched: the completion feature's
 * context ring uses that to remember edit sites. Features read documents here and subscribe to
 * the events they need; server.ts wires the LSP notifications to `apply*`.
 */
import type {
  DidChangeTextDocumentParams,
  DidCloseTextDocumentParams,
  DidOpenTextDocumentParams,
  DidSaveTextDocumentParams,
} from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';

export interface DocumentEvents {
  opened?(doc: TextDocument): void;
  /** `line`: first line of the last change (undefined for a whole-document replacement). */
  changed?(doc: TextDocument, line: number | undefined): void;
  saved?(doc: TextDocument): void;
  closed?(uri: string): void;
}

export class DocumentStore {
  private readonly docs = new Map<string, TextDocument>();
  private readonly listeners = new Set<DocumentEvents>();

  get(uri: string): TextDocument | undefined {
    return this.docs.get(uri);
  }

  all(): TextDocument[] {
    return [...this.docs.values()];
  }

  /** Subscribes to document events; returns the unsubscribe function. */
  on(listener: DocumentEvents): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  applyOpen({ textDocument: d }: DidOpenTextDocumentParams): void {
    const doc = TextDocument.create(d.uri, d.languageId, d.version, d.text);
    this.docs.set(d.uri, doc);
    for (const l of this.listeners) l.opened?.(doc);
  }

  applyChange({ textDocument, contentChanges }: DidChangeTextDocumentParams): void {
    const doc = this.docs.get(textDocument.uri);
    if (!doc) return;
    const updated = TextDocument.update(doc, contentChanges, textDocument.version);
    this.docs.set(textDocument.uri, updated);
    const last = contentChanges[contentChanges.length - 1];
    const line = last && 'range' in last ? last.range.start.line : undefined;
    for (const l of this.listeners) l.changed?.(updated, line);
  }

  applySave({ textDocument }: DidSaveTextDocumentParams): void {
    const doc = this.docs.get(textDocument.uri);
    if (doc) for (const l of this.listeners) l.saved?.(doc);
  }

  applyClose({ textDocument }: DidCloseTextDocumentParams): void {
    this.docs.delete(textDocument.uri);
    for (const l of this.listeners) l.closed?.(textDocument.uri);
  }
}
