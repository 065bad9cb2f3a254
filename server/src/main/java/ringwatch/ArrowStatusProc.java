package ringwatch;

import java.util.List;
import java.util.stream.Stream;

import org.neo4j.procedure.Description;
import org.neo4j.procedure.Procedure;

/**
 * `gds.debug.arrow()` for the open edition, which has no Arrow Flight server.
 *
 * The graphdatascience Python client calls this procedure when it connects, to decide
 * between Arrow and Bolt transport. The packaged plugin reports "disabled" here; the
 * modules on Maven Central do not ship the procedure, so we report the same truthfully.
 */
public final class ArrowStatusProc {

    public static final class ArrowStatus {
        public final String listenAddress = "";
        public final String advertisedListenAddress = "";
        public final String serverLocation = null;
        public final boolean enabled = false;
        public final boolean running = false;
        public final long batchSize = 0;
        public final long abortionTimeout = 0;
        public final List<String> versions = List.of();
    }

    @Procedure(name = "gds.debug.arrow")
    @Description("Reports that this GDS edition runs without the Arrow Flight server.")
    public Stream<ArrowStatus> arrow() {
        return Stream.of(new ArrowStatus());
    }
}
