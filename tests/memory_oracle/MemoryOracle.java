/*
 * Test oracle: runs Flink's own BashJavaUtils code path for many configurations in ONE JVM.
 *
 * For each stdin line "TM|JM<TAB>key=value<TAB>..." it loads the configuration exactly as
 * `BashJavaUtils GET_TM_RESOURCE_PARAMS|GET_JM_RESOURCE_PARAMS --configDir DIR -D key=value ...`
 * does (FlinkConfigLoader.loadConfiguration) and calls BashJavaUtils' own (private) getTmResourceParams /
 * getJmResourceParams by reflection, so legacy-option handling and output formatting are the
 * distribution's. Writes one line per input to the results file: "OK<TAB>jvm args<TAB>dynamic configs"
 * or "ERR<TAB>exception class: message". Works unchanged against Flink 1.15.2 and 2.3.0.
 */

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;

public final class MemoryOracle {

    public static void main(String[] args) throws Exception {
        String configDir = args[0];
        String resultsFile = args[1];
        Class<?> configuration = Class.forName("org.apache.flink.configuration.Configuration");
        Class<?> bashJavaUtils = Class.forName("org.apache.flink.runtime.util.bash.BashJavaUtils");
        Class<?> loader = Class.forName("org.apache.flink.runtime.util.bash.FlinkConfigLoader");
        Method load = loader.getMethod("loadConfiguration", String[].class);
        Method tm = bashJavaUtils.getDeclaredMethod("getTmResourceParams", configuration);
        Method jm = bashJavaUtils.getDeclaredMethod("getJmResourceParams", configuration);
        tm.setAccessible(true);
        jm.setAccessible(true);
        try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
                PrintWriter out = new PrintWriter(Files.newBufferedWriter(Paths.get(resultsFile), StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isEmpty()) {
                    continue;
                }
                String[] parts = line.split("\t", -1);
                List<String> cli = new ArrayList<>();
                cli.add("--configDir");
                cli.add(configDir);
                for (int i = 1; i < parts.length; i++) {
                    cli.add("-D");
                    cli.add(parts[i]);
                }
                try {
                    Object conf = load.invoke(null, (Object) cli.toArray(new String[0]));
                    @SuppressWarnings("unchecked")
                    List<String> result = (List<String>) ("TM".equals(parts[0]) ? tm : jm).invoke(null, conf);
                    out.println("OK\t" + result.get(0) + "\t" + result.get(1));
                } catch (InvocationTargetException e) {
                    out.println("ERR\t" + describe(e.getCause()));
                } catch (RuntimeException e) {
                    out.println("ERR\t" + describe(e));
                }
                out.flush();
            }
        }
    }

    private static String describe(Throwable t) {
        StringBuilder text = new StringBuilder(t.getClass().getName()).append(": ").append(t.getMessage());
        for (Throwable cause = t.getCause(); cause != null && cause != cause.getCause(); cause = cause.getCause()) {
            text.append(" | caused by ").append(cause.getClass().getName()).append(": ").append(cause.getMessage());
        }
        return text.toString().replace('\n', ' ').replace('\t', ' ');
    }
}
