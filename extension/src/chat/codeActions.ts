/**
 * What a chat code block's buttons do in the editor: copy, insert at the cursor, and apply as a
 * change reviewed in VS Code's diff editor first (the proposed file is a read-only virtual
 * document; nothing is written until the user accepts, and not at all when the file changed since).
 */
import * as vscode from 'vscode';
import { proposedText } from './proposedText';

export const PROPOSAL_SCHEME = 'pronto-proposed';

/** Serves the proposed texts to the diff editor. */
export class ProposalDocuments implements vscode.TextDocumentContentProvider {
  private readonly texts = new Map<string, string>();
  private next = 0;
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  add(original: vscode.Uri, text: string): vscode.Uri {
    const uri = vscode.Uri.from({ scheme: PROPOSAL_SCHEME, path: original.path, query: `n=${++this.next}` });
    this.texts.set(uri.toString(), text);
    return uri;
  }
  forget(uri: vscode.Uri): void {
    this.texts.delete(uri.toString());
  }
  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.toString()) ?? '';
  }
  dispose(): void {
    this.changed.dispose();
  }
}

export async function copyCode(code: string): Promise<string> {
  await vscode.env.clipboard.writeText(code);
  return 'Copied to the clipboard.';
}

function usable(editor: vscode.TextEditor | undefined): vscode.TextEditor {
  if (!editor || editor.document.isClosed) throw new Error('No editor to put the code in: click into a file first.');
  return editor;
}

export async function insertCode(target: vscode.TextEditor | undefined, code: string): Promise<string> {
  const editor = usable(target);
  const ok = await editor.edit((b) => b.replace(editor.selection, code));
  if (!ok) throw new Error(`Could not insert into ${vscode.workspace.asRelativePath(editor.document.uri)}.`);
  await vscode.window.showTextDocument(editor.document, editor.viewColumn);
  return `Inserted into ${vscode.workspace.asRelativePath(editor.document.uri)}.`;
}

/** Opens the diff of the proposed change and applies it when the user accepts. */
export async function applyCode(target: vscode.TextEditor | undefined, code: string, proposals: ProposalDocuments): Promise<string> {
  const editor = usable(target);
  const doc = editor.document;
  const version = doc.version;
  const original = doc.getText();
  const sel = { start: doc.offsetAt(editor.selection.start), end: doc.offsetAt(editor.selection.end) };
  const proposal = proposedText(original, sel, code);
  const proposedUri = proposals.add(doc.uri, proposal.text);
  const name = vscode.workspace.asRelativePath(doc.uri);
  const what =
    proposal.mode === 'selection'
      ? 'the selection replaced'
      : proposal.mode === 'file'
        ? 'the whole file replaced'
        : 'code inserted at the cursor';
  try {
    await vscode.commands.executeCommand('vscode.diff', doc.uri, proposedUri, `${name} ↔ Pronto's proposal (${what})`, { preview: true });
    const pick = await vscode.window.showInformationMessage(`Apply Pronto's proposed change to ${name} (${what})?`, 'Accept', 'Discard');
    if (pick !== 'Accept') return `Discarded the proposed change to ${name}.`;
    if (doc.isClosed || doc.version !== version)
      throw new Error(`${name} changed since the proposal was made: nothing was applied. Apply the block again.`);
    const edit = new vscode.WorkspaceEdit();
    edit.replace(doc.uri, new vscode.Range(doc.positionAt(0), doc.positionAt(original.length)), proposal.text);
    if (!(await vscode.workspace.applyEdit(edit))) throw new Error(`VS Code refused the edit to ${name}.`);
    return `Applied the proposed change to ${name} (not saved yet).`;
  } finally {
    // Close the diff editor of this proposal, whatever the outcome.
    for (const group of vscode.window.tabGroups.all) {
      for (const tab of group.tabs) {
        const input = tab.input;
        if (input instanceof vscode.TabInputTextDiff && input.modified.toString() === proposedUri.toString()) {
          await vscode.window.tabGroups.close(tab).then(undefined, () => undefined);
        }
      }
    }
    proposals.forget(proposedUri);
  }
}
