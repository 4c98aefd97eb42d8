package flinkk8s.legacy;

import java.io.BufferedWriter;
import java.io.File;
import java.io.FileWriter;

import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.utils.ParameterTool;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.sink.RichSinkFunction;
import org.apache.flink.streaming.api.functions.source.SourceFunction;
import org.apache.flink.util.Collector;

/**
 * The streaming test job for Flink 1.15 (the shared test jobs use 2.x APIs): a keyed ValueState
 * counter writing {@code key=<k> count=<n> seq=<i>} lines to {@code --output}/part-0.txt, so a
 * restore from a checkpoint shows as counts that continue instead of starting at 1 again.
 */
public final class LegacyCounterJob {
    public static void main(String[] argv) throws Exception {
        ParameterTool params = ParameterTool.fromArgs(argv);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.enableCheckpointing(params.getLong("checkpoint-interval-ms", 1000));
        env.addSource(new Ticks()).name("ticks")
                .keyBy(seq -> (int) (seq % 4))
                .process(new Counter()).uid("keyed-counter")
                .addSink(new LineSink(params.getRequired("output"))).name("lines");
        env.execute("flink-k8s-airflow legacy counter");
    }

    /** One number every 50 ms, forever. */
    static final class Ticks implements SourceFunction<Long> {
        private volatile boolean running = true;

        @Override
        public void run(SourceContext<Long> ctx) throws Exception {
            long seq = 0;
            while (running) {
                synchronized (ctx.getCheckpointLock()) {
                    ctx.collect(seq++);
                }
                Thread.sleep(50);
            }
        }

        @Override
        public void cancel() {
            running = false;
        }
    }

    /** Running count per key in keyed state. */
    static final class Counter extends KeyedProcessFunction<Integer, Long, String> {
        private transient ValueState<Long> count;

        @Override
        public void open(Configuration parameters) {
            count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
        }

        @Override
        public void processElement(Long seq, Context ctx, Collector<String> out) throws Exception {
            long next = (count.value() == null ? 0L : count.value()) + 1;
            count.update(next);
            out.collect("key=" + ctx.getCurrentKey() + " count=" + next + " seq=" + seq);
        }
    }

    /** Appends lines to a local file, flushed per record. */
    static final class LineSink extends RichSinkFunction<String> {
        private final String dir;
        private transient BufferedWriter out;

        LineSink(String dir) {
            this.dir = dir;
        }

        @Override
        public void open(Configuration parameters) throws Exception {
            new File(dir).mkdirs();
            int subtask = getRuntimeContext().getIndexOfThisSubtask();
            out = new BufferedWriter(new FileWriter(new File(dir, "part-" + subtask + ".txt"), true));
        }

        @Override
        public void invoke(String value, Context context) throws Exception {
            out.write(value);
            out.newLine();
            out.flush();
        }

        @Override
        public void close() throws Exception {
            if (out != null) {
                out.close();
            }
        }
    }
}
