package flinkk8s.testjobs;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.GlobalConfiguration;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Unbounded job with keyed state: generated sequence numbers are keyed by {@code seq % keys}; a ValueState
 * counter per key emits {@code key=<k> count=<n> seq=<i>} to {@code --output}. After a restore from a
 * savepoint the first count of a key continues from the savepoint's value instead of starting at 1.
 *
 * <p>Args: --output DIR [--keys 4] [--rate 20 (records/s, whole job)] [--checkpoint-interval-ms 1000]
 * [--stall-ms 0 (the sink blocks this long per record: checkpoints and savepoints cannot complete)]
 * [--fail-on-image TEXT (main() throws at start when the cluster's container image contains TEXT: a "release"
 * whose job fails at start, for rollback tests; the image is read from the cluster's Flink configuration)]
 */
public final class StreamingCounterJob {
    public static void main(String[] argv) throws Exception {
        Args args = new Args(argv);
        String output = args.required("output");
        int keys = args.getInt("keys", 4);
        long rate = args.getLong("rate", 20);
        long interval = args.getLong("checkpoint-interval-ms", 1000);
        long stallMs = args.getLong("stall-ms", 0);

        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        String failOnImage = args.optional("fail-on-image");
        if (failOnImage != null) {
            String image = env.getConfiguration().get(
                    ConfigOptions.key("kubernetes.container.image.ref").stringType().noDefaultValue());
            if (image == null) {
                image = GlobalConfiguration.loadConfiguration().get(
                        ConfigOptions.key("kubernetes.container.image.ref").stringType().noDefaultValue());
            }
            if (image != null && image.contains(failOnImage)) {
                throw new IllegalStateException(
                        "flink-k8s-airflow test failure: release image " + image + " fails at start");
            }
        }
        env.enableCheckpointing(interval);

        DataGeneratorSource<Long> source = new DataGeneratorSource<>(
                seq -> seq, Long.MAX_VALUE, RateLimiterStrategy.perSecond(rate), Types.LONG);

        env.fromSource(source, WatermarkStrategy.noWatermarks(), "sequence")
                .uid("sequence-source")
                .keyBy(new ModKey(keys))
                .process(new Counter())
                .uid("keyed-counter")
                .name("keyed-counter")
                .sinkTo(new LineFileSink(output, stallMs))
                .uid("line-file-sink")
                .name("line-file-sink");

        env.execute("flink-k8s-airflow streaming counter");
    }

    /** Key = sequence number modulo the key count. */
    static final class ModKey implements KeySelector<Long, Integer> {
        private static final long serialVersionUID = 1L;
        private final int keys;

        ModKey(int keys) {
            this.keys = keys;
        }

        @Override
        public Integer getKey(Long seq) {
            return (int) (seq % keys);
        }
    }

    /** Running count per key, kept in keyed state so it survives checkpoints and savepoints. */
    static final class Counter extends KeyedProcessFunction<Integer, Long, String> {
        private static final long serialVersionUID = 1L;
        private transient ValueState<Long> count;

        @Override
        public void open(OpenContext openContext) {
            count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
        }

        @Override
        public void processElement(Long seq, Context ctx, Collector<String> out) throws Exception {
            Long previous = count.value();
            long next = (previous == null ? 0L : previous) + 1;
            count.update(next);
            out.collect("key=" + ctx.getCurrentKey() + " count=" + next + " seq=" + seq);
        }
    }
}
