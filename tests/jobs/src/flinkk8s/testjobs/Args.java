package flinkk8s.testjobs;

import java.util.HashMap;
import java.util.Map;

/** Minimal "--name value" parser, so the jobs do not depend on where ParameterTool lives in a Flink version. */
final class Args {
    private final Map<String, String> values = new HashMap<>();

    Args(String[] argv) {
        for (int i = 0; i < argv.length; i++) {
            String arg = argv[i];
            if (!arg.startsWith("--")) {
                throw new IllegalArgumentException("argument " + i + " '" + arg + "' must start with --");
            }
            String name = arg.substring(2);
            if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) {
                values.put(name, argv[++i]);
            } else {
                values.put(name, "true");
            }
        }
    }

    String required(String name) {
        String value = values.get(name);
        if (value == null) {
            throw new IllegalArgumentException("missing required argument --" + name);
        }
        return value;
    }

    String optional(String name) {
        return values.get(name);
    }

    long getLong(String name, long defaultValue) {
        String value = values.get(name);
        return value == null ? defaultValue : Long.parseLong(value);
    }

    int getInt(String name, int defaultValue) {
        return (int) getLong(name, defaultValue);
    }
}
