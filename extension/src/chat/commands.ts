/**
 * The chat's and the templates panel's commands, as entries of the extension's command table
 * (extension/src/commands.ts). They all open with the server down too: the panels say so.
 */
import * as vscode from 'vscode';
import { always, type CommandSpec } from '../commands';
import type { ChatSession } from './session';
import { CHAT_VIEW_ID, openChatPanel } from './view';

async function revealChatView(): Promise<void> {
  await vscode.commands.executeCommand(`${CHAT_VIEW_ID}.focus`);
}

export function chatCommands(session: ChatSession, extensionUri: vscode.Uri, openTemplates: () => void): Record<string, CommandSpec> {
  return {
    'pronto.openChat': always(() => async () => {
      await revealChatView();
      session.focusInput();
    }),
    'pronto.openChatInEditor': always(() => () => {
      openChatPanel(session, extensionUri);
    }),
    'pronto.askAboutSelection': always(() => async () => {
      session.askAboutSelection();
      await revealChatView();
      session.focusInput();
    }),
    'pronto.newChat': always(() => async () => {
      session.newConversation();
      await revealChatView();
      session.focusInput();
    }),
    'pronto.chat.configureTemplate': always(
      () => () => vscode.commands.executeCommand('workbench.action.openSettings', 'pronto.chat.template'),
    ),
    'pronto.openTemplates': always(() => () => openTemplates()),
  };
}
