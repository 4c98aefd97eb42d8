package flinkk8s.testjobs;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import java.time.Duration;

/**
 * A job that throws {@code IllegalStateException("flink-k8s-airflow test failure: boom ...")} after
 * {@code --fail-after} records in every attempt. With {@code --restart-attempts 0} (default) it fails
 * terminally; with N > 0 it restarts N times (fixed delay) first, so restart counters grow.
 *
 * <p>Args: [--fail-after 5] [--rate 10] [--restart-attempts 0] [--restart-delay-ms 200]
 */
public final class FailingJob {
    static final String MESSAGE = "flink-k8s-airflow test failure: boom";

    public static void main(String[] argv) throws Exception {
        Args args = new Args(argv);
        long failAfter = args.getLong("fail-after", 5);
        long rate = args.getLong("rate", 10);
        int attempts = args.getInt("restart-attempts", 0);
        long delayMs = args.getLong("restart-delay-ms", 200);

        Configuration conf = new Configuration();
        if (attempts > 0) {
            conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
            conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, attempts);
            conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(delayMs));
        } else {
            conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        }
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);

        DataGeneratorSource<Long> source = new DataGeneratorSource<>(
                seq -> seq, Long.MAX_VALUE, RateLimiterStrategy.perSecond(rate), Types.LONG);
        env.fromSource(source, WatermarkStrategy.noWatermarks(), "sequence")
                .map(new FailAfter(failAfter))
                .name("fail-after")
                .sinkTo(new org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink<>());

        env.execute("flink-k8s-airflow failing job");
    }

    /** Passes records through, then throws once this attempt has seen {@code limit} of them. */
    static final class FailAfter implements MapFunction<Long, Long> {
        private static final long serialVersionUID = 1L;
        private final long limit;
        private transient long seen;

        FailAfter(long limit) {
            this.limit = limit;
        }

        @Override
        public Long map(Long value) {
            if (++seen >= limit) {
                throw new IllegalStateException(MESSAGE + " (after " + seen + " records)");
            }
            return value;
        }
    }
}
