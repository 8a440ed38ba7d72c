// A fresh PostgreSQL database for one fleet run on a given server (ci/postgres.sh starts a
// throwaway one), dropped afterwards, so runs never see each other's devices.
import { runAlone } from '../../server-mock/store/postgres.js';

export class FreshDatabase {
  private constructor(
    private readonly adminUrl: string,
    private readonly name: string,
    readonly url: string,
  ) {}

  static async create(serverUrl: string, runId: string): Promise<FreshDatabase> {
    const name = `flipside_${runId.replace(/[^a-z0-9]/gi, '_').toLowerCase()}`;
    await runAlone(serverUrl, `CREATE DATABASE ${name}`);
    const url = new URL(serverUrl);
    url.pathname = `/${name}`;
    return new FreshDatabase(serverUrl, name, url.toString());
  }

  async drop(): Promise<void> {
    await runAlone(this.adminUrl, `DROP DATABASE IF EXISTS ${this.name} WITH (FORCE)`);
  }
}
