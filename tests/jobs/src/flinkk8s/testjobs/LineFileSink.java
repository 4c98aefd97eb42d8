package flinkk8s.testjobs;

import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;

import java.io.BufferedWriter;
import java.io.File;
import java.io.FileWriter;
import java.io.IOException;

/**
 * Appends each record as one line to {@code <dir>/part-<subtask>.txt}, flushed per record, so a test can
 * read what the job produced while it runs (and after it stopped) without any connector on the classpath.
 * With {@code stallMs > 0} every write first logs {@code stalled <record>} and then blocks that long: a
 * checkpoint barrier queued behind it cannot complete (savepoint timeout tests).
 */
final class LineFileSink implements Sink<String> {
    private static final long serialVersionUID = 1L;
    private final String directory;
    private final long stallMs;

    LineFileSink(String directory) {
        this(directory, 0);
    }

    LineFileSink(String directory, long stallMs) {
        this.directory = directory;
        this.stallMs = stallMs;
    }

    @Override
    public SinkWriter<String> createWriter(WriterInitContext context) throws IOException {
        File dir = new File(directory);
        if (!dir.isDirectory() && !dir.mkdirs() && !dir.isDirectory()) {
            throw new IOException("cannot create output directory " + dir);
        }
        int subtask = context.getTaskInfo().getIndexOfThisSubtask();
        return new Writer(new File(dir, "part-" + subtask + ".txt"), stallMs);
    }

    private static final class Writer implements SinkWriter<String> {
        private final BufferedWriter out;
        private final long stallMs;

        Writer(File file, long stallMs) throws IOException {
            this.out = new BufferedWriter(new FileWriter(file, true));
            this.stallMs = stallMs;
        }

        @Override
        public void write(String element, Context context) throws IOException, InterruptedException {
            if (stallMs > 0) {
                out.write("stalled " + element);
                out.newLine();
                out.flush();
                Thread.sleep(stallMs);
            }
            out.write(element);
            out.newLine();
            out.flush();
        }

        @Override
        public void flush(boolean endOfInput) throws IOException {
            out.flush();
        }

        @Override
        public void close() throws IOException {
            out.close();
        }
    }
}
