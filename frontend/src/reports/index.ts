/** The report pages: one lazily loaded chunk with the chart library (see App.tsx). */
export { DomainReportsPage } from './DomainReports';
export { ReportDetailPage } from './ReportDetail';
export { TenantReportsPage } from './TenantReports';
