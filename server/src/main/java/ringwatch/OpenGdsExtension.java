package ringwatch;

import java.util.Optional;

import org.neo4j.annotations.service.ServiceProvider;
import org.neo4j.configuration.Config;
import org.neo4j.gds.LicenseState;
import org.neo4j.gds.LicensingBusinessFacade;
import org.neo4j.gds.OpenGdsLicensingServiceBuilder;
import org.neo4j.gds.SysInfoProcFacade;
import org.neo4j.gds.procedures.integration.ComponentRegistration;
import org.neo4j.gds.applications.modelcatalog.ModelRepository;
import org.neo4j.gds.applications.operations.FeatureTogglesRepository;
import org.neo4j.gds.core.model.OpenModelCatalog;
import org.neo4j.gds.core.write.NativeExportBuildersProvider;
import org.neo4j.gds.metrics.Metrics;
import org.neo4j.gds.procedures.ExporterBuildersProviderService;
import org.neo4j.gds.procedures.integration.DefaultExportLocation;
import org.neo4j.gds.procedures.integration.LogAccessor;
import org.neo4j.gds.procedures.integration.OpenGraphDataScienceExtensionBuilder;
import org.neo4j.kernel.api.procedure.GlobalProcedures;
import org.neo4j.kernel.extension.ExtensionFactory;
import org.neo4j.kernel.extension.ExtensionType;
import org.neo4j.kernel.extension.context.ExtensionContext;
import org.neo4j.kernel.lifecycle.Lifecycle;
import org.neo4j.logging.internal.LogService;

/**
 * Wires the open Graph Data Science edition into the DBMS: it registers the GDS
 * component that every gds.* procedure is injected with.
 *
 * The packaged GDS plugin carries such an extension, but that package is not on Maven
 * Central; the modules it is assembled from are. This class is the assembly step:
 * native writes only, no metrics, models kept in memory and never stored.
 */
@ServiceProvider
public final class OpenGdsExtension extends ExtensionFactory<OpenGdsExtension.Dependencies> {

    public interface Dependencies {
        Config config();

        GlobalProcedures globalProcedures();

        LogService logService();
    }

    public OpenGdsExtension() {
        super(ExtensionType.GLOBAL, "ringwatch.gds");
    }

    @Override
    public Lifecycle newInstance(ExtensionContext context, Dependencies dependencies) {
        var log = new LogAccessor().getLog(dependencies.logService(), getClass());
        var config = dependencies.config();
        ExporterBuildersProviderService exporters = (db, cfg) -> new NativeExportBuildersProvider();
        ModelRepository noModelStore = model -> {
            throw new UnsupportedOperationException("storing models is not available in this edition");
        };
        var built = OpenGraphDataScienceExtensionBuilder.create(
                log,
                dependencies.globalProcedures(),
                config,
                exporters,
                new DefaultExportLocation(log, config),
                new FeatureTogglesRepository(),
                Metrics.DISABLED,
                new OpenModelCatalog(),
                noModelStore,
                Optional.empty(),
                Optional.empty(),
                Optional.empty());
        // gds.version(), gds.debug.sysInfo() and gds.license.state() read the licence state.
        var licensing = new OpenGdsLicensingServiceBuilder().build(config);
        var registration = new ComponentRegistration(log, dependencies.globalProcedures());
        registration.registerComponent("GDS licence state", LicenseState.class, ctx -> licensing.get());
        registration.registerComponent("GDS system info", SysInfoProcFacade.class,
                ctx -> new SysInfoProcFacade(new LicensingBusinessFacade(licensing)));
        return built.getLeft().build();
    }
}
