// Types for parse-prometheus-text-format (the package ships none). Its output follows prom2json:
// every value is a string as written ("1", "+Inf", "NaN").
declare module 'parse-prometheus-text-format' {
  export interface PromSample {
    labels?: Record<string, string>;
    value?: string;
    /** Histograms and summaries. */
    count?: string;
    sum?: string;
    /** Histograms: upper bound ("0.1", "+Inf") -> cumulative count. */
    buckets?: Record<string, string>;
    /** Summaries: quantile -> value. */
    quantiles?: Record<string, string>;
    timestamp_ms?: string;
  }
  export interface PromFamily {
    name: string;
    help: string;
    type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
    metrics: PromSample[];
  }
  export default function parsePrometheusTextFormat(text: string): PromFamily[];
}
