/**
 * The engine's API key lives in VS Code's SecretStorage under `pronto.engine.apiKey` (never in a
 * plain setting), and reaches the sidecar in its answer to `workspace/configuration`: the language
 * client's middleware adds it to the `pronto` section when the plain setting is empty. "Use
 * Deployed Endpoint" stores the deployment's key there and points `pronto.engine.url` at the
 * active service.
 */
import type * as vscode from 'vscode';
import type { Middleware } from 'vscode-languageclient/node';

/** The secret's name, shared with the sidecar feature that sets the key by hand. */
export const API_KEY_SECRET = 'pronto.engine.apiKey';

type ConfigurationMiddleware = NonNullable<NonNullable<Middleware['workspace']>['configuration']>;

/** Adds the stored key to the `pronto` section the server asks for, unless a plain setting gives one. */
export function withSecretApiKey(secrets: vscode.SecretStorage): ConfigurationMiddleware {
  return async (params, token, next) => {
    const result = await next(params, token);
    if (!Array.isArray(result)) return result;
    const key = await secrets.get(API_KEY_SECRET);
    if (!key) return result;
    return result.map((value, i) => {
      if (params.items[i]?.section !== 'pronto' || !value || typeof value !== 'object') return value;
      const section = value as { engine?: { apiKey?: string } };
      if (section.engine?.apiKey) return value;
      return { ...section, engine: { ...(section.engine ?? {}), apiKey: key } };
    });
  };
}
