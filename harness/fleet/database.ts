// A fresh PostgreSQL database for one fleet run on a given server (ci/postgres.sh starts a
// throwaway one), dropped afterwards, so runs never see each other's devices.
import postgres from 'postgres';

export class FreshDatabase {
  private constructor(
    private readonly adminUrl: string,
    private readonly name: string,
    readonly url: string,
  ) {}

  static async create(serverUrl: string, runId: string): Promise<FreshDatabase> {
    const name = `flipside_${runId.replace(/[^a-z0-9]/gi, '_').toLowerCase()}`;
    await FreshDatabase.admin(serverUrl, `CREATE DATABASE ${name}`);
    const url = new URL(serverUrl);
    url.pathname = `/${name}`;
    return new FreshDatabase(serverUrl, name, url.toString());
  }

  async drop(): Promise<void> {
    await FreshDatabase.admin(this.adminUrl, `DROP DATABASE IF EXISTS ${this.name} WITH (FORCE)`);
  }

  private static async admin(url: string, statement: string): Promise<void> {
    // One connection: CREATE/DROP DATABASE cannot run in a transaction or beside other statements.
    const client = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await client.unsafe(statement);
    } finally {
      await client.end();
    }
  }
}
