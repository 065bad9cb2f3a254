package ringwatch;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.QueryExecutionException;
import org.neo4j.io.ByteUnit;

/**
 * Runs Neo4j Community embedded, with its Bolt connector on the loopback address and the
 * Graph Data Science procedures loaded from a plugin directory.
 *
 * Maven Central has no Neo4j server assembly, so this launcher stands in for bin/neo4j:
 * it is started and stopped by `ringwatch db start|stop`, which passes its settings
 * through the environment (the password never appears on a command line).
 *
 * Environment: RINGWATCH_HOME (state directory), RINGWATCH_BOLT_PORT, RINGWATCH_PLUGINS,
 * RINGWATCH_NEO4J_PASSWORD, RINGWATCH_PAGECACHE (e.g. 1g), RINGWATCH_TX_MEMORY (e.g. 2g).
 */
public final class Launcher {

    public static void main(String[] args) throws Exception {
        Path home = Path.of(env("RINGWATCH_HOME", ".ringwatch")).toAbsolutePath();
        int port = Integer.parseInt(env("RINGWATCH_BOLT_PORT", "7687"));
        Path plugins = Path.of(env("RINGWATCH_PLUGINS", "plugins")).toAbsolutePath();
        String password = System.getenv("RINGWATCH_NEO4J_PASSWORD");
        if (password == null || password.length() < 8) {
            System.err.println("RINGWATCH_NEO4J_PASSWORD must be set (8 characters or more)");
            System.exit(2);
        }
        Files.createDirectories(home);

        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                .setConfig(BoltConnector.advertised_address, new SocketAddress("127.0.0.1", port))
                .setConfig(GraphDatabaseSettings.auth_enabled, true)
                .setConfig(GraphDatabaseSettings.plugin_dir, plugins)
                .setConfig(GraphDatabaseSettings.procedure_unrestricted, List.of("gds.*"))
                .setConfig(GraphDatabaseSettings.pagecache_memory, bytes(env("RINGWATCH_PAGECACHE", "1g")))
                .setConfig(GraphDatabaseSettings.memory_transaction_global_max_size,
                        bytes(env("RINGWATCH_TX_MEMORY", "0")))
                .setConfig(GraphDatabaseSettings.keep_logical_logs, "1 files")
                // LOAD CSV may not read files of this machine: a query could read any file the server can
                .setConfig(GraphDatabaseSettings.allow_file_urls, false)
                .build();

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("ringwatch-neo4j: shutting down");
            dbms.shutdown();
            System.out.println("ringwatch-neo4j: stopped");
            stopped.countDown();
        }, "ringwatch-shutdown"));

        // The password lives with the state directory; setting it on every start keeps the
        // database and the password file in step, and clears "change required".
        try {
            dbms.database("system").executeTransactionally(
                    "ALTER USER neo4j SET PASSWORD $password CHANGE NOT REQUIRED", Map.of("password", password));
        } catch (QueryExecutionException e) {
            if (!e.getMessage().contains("Old password and new password cannot be the same")) {
                System.err.println("ringwatch-neo4j: could not set the password: " + e.getMessage());
                System.exit(1);
            }
        }

        System.out.println("ringwatch-neo4j: ready on bolt://127.0.0.1:" + port);
        System.out.flush();
        stopped.await();
    }

    private static String env(String name, String fallback) {
        String value = System.getenv(name);
        return value == null || value.isBlank() ? fallback : value;
    }

    private static long bytes(String text) {
        String t = text.trim().toLowerCase();
        long unit = 1;
        if (t.endsWith("k")) unit = ByteUnit.kibiBytes(1);
        else if (t.endsWith("m")) unit = ByteUnit.mebiBytes(1);
        else if (t.endsWith("g")) unit = ByteUnit.gibiBytes(1);
        if (unit != 1) t = t.substring(0, t.length() - 1);
        return Long.parseLong(t) * unit;
    }
}
