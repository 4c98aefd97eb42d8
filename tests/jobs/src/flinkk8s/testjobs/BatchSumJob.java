package flinkk8s.testjobs;

import org.apache.flink.api.common.RuntimeExecutionMode;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.functions.ReduceFunction;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.api.java.tuple.Tuple3;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/**
 * Bounded job in BATCH mode: sums the numbers 0..records-1 per key ({@code n % keys}) and writes one line
 * {@code key=<k> count=<c> sum=<s>} per key to {@code --output}; a test can compute the expected values.
 *
 * <p>Args: --output DIR [--records 1000] [--keys 4] [--rate 0 (records/s, whole job; 0 = unlimited: a test
 * that needs the job to run for a while sets it)]
 */
public final class BatchSumJob {
    public static void main(String[] argv) throws Exception {
        Args args = new Args(argv);
        String output = args.required("output");
        long records = args.getLong("records", 1000);
        int keys = args.getInt("keys", 4);
        long rate = args.getLong("rate", 0);

        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setRuntimeMode(RuntimeExecutionMode.BATCH);

        DataGeneratorSource<Long> source = rate > 0
                ? new DataGeneratorSource<>(seq -> seq, records, RateLimiterStrategy.perSecond(rate), Types.LONG)
                : new DataGeneratorSource<>(seq -> seq, records, Types.LONG);
        env.fromSource(source, WatermarkStrategy.noWatermarks(), "numbers")
                .map(new ToTriple(keys))
                .returns(Types.TUPLE(Types.INT, Types.LONG, Types.LONG))
                .keyBy(new FirstField())
                .reduce(new Add())
                .map(new Format())
                .returns(Types.STRING)
                .sinkTo(new LineFileSink(output))
                .name("line-file-sink");

        env.execute("flink-k8s-airflow batch sum");
    }

    static final class ToTriple implements MapFunction<Long, Tuple3<Integer, Long, Long>> {
        private static final long serialVersionUID = 1L;
        private final int keys;

        ToTriple(int keys) {
            this.keys = keys;
        }

        @Override
        public Tuple3<Integer, Long, Long> map(Long n) {
            return Tuple3.of((int) (n % keys), 1L, n);
        }
    }

    static final class FirstField implements KeySelector<Tuple3<Integer, Long, Long>, Integer> {
        private static final long serialVersionUID = 1L;

        @Override
        public Integer getKey(Tuple3<Integer, Long, Long> t) {
            return t.f0;
        }
    }

    static final class Add implements ReduceFunction<Tuple3<Integer, Long, Long>> {
        private static final long serialVersionUID = 1L;

        @Override
        public Tuple3<Integer, Long, Long> reduce(Tuple3<Integer, Long, Long> a, Tuple3<Integer, Long, Long> b) {
            return Tuple3.of(a.f0, a.f1 + b.f1, a.f2 + b.f2);
        }
    }

    static final class Format implements MapFunction<Tuple3<Integer, Long, Long>, String> {
        private static final long serialVersionUID = 1L;

        @Override
        public String map(Tuple3<Integer, Long, Long> t) {
            return "key=" + t.f0 + " count=" + t.f1 + " sum=" + t.f2;
        }
    }
}
