import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useAuth } from '../auth';
import { tenantPath, type GroupBy, type ReportList, type ReportSettings, type Summary } from '../api/types';
import type { DayRange } from './shape';

/** Whose reports: one domain's or the whole tenant's. */
export interface Scope {
  tenant: string;
  /** A domain name, or undefined for the tenant-wide summary. */
  domain?: string;
}

export function summaryPath(scope: Scope, range: Pick<DayRange, 'from' | 'to'>, groupBy: GroupBy): string {
  const base = scope.domain
    ? tenantPath(scope.tenant, 'domains', scope.domain, 'reports', 'summary')
    : tenantPath(scope.tenant, 'reports', 'summary');
  const q = new URLSearchParams({ from: range.from, to: range.to, group_by: groupBy });
  return `${base}?${q.toString()}`;
}

/** Every report query of a scope starts with this key (to refetch them after an upload). */
export function reportsKey(scope: Scope): unknown[] {
  return ['reports', scope.tenant, scope.domain ?? null];
}

export function useSummary(scope: Scope, range: Pick<DayRange, 'from' | 'to'>, groupBy: GroupBy) {
  const { client } = useAuth();
  return useQuery({
    queryKey: [...reportsKey(scope), 'summary', range.from, range.to, groupBy],
    queryFn: ({ signal }) => client.get<Summary>(summaryPath(scope, range, groupBy), signal),
    placeholderData: keepPreviousData,
  });
}

export interface ListFilter {
  from: string;
  to: string;
  organization: string;
  offset: number;
  limit: number;
}

export function listPath(tenant: string, domain: string, f: ListFilter): string {
  const q = new URLSearchParams({ from: f.from, to: f.to, limit: String(f.limit), offset: String(f.offset) });
  if (f.organization) q.set('organization', f.organization);
  return `${tenantPath(tenant, 'domains', domain, 'reports')}?${q.toString()}`;
}

export function useReportList(tenant: string, domain: string, f: ListFilter) {
  const { client } = useAuth();
  return useQuery({
    queryKey: [...reportsKey({ tenant, domain }), 'list', f],
    queryFn: ({ signal }) => client.get<ReportList>(listPath(tenant, domain, f), signal),
    placeholderData: keepPreviousData,
  });
}

export function settingsPath(tenant: string): string {
  return tenantPath(tenant, 'reports', 'settings');
}

export function useReportSettings(tenant: string) {
  const { client } = useAuth();
  return useQuery({
    queryKey: ['reportSettings', tenant],
    queryFn: ({ signal }) => client.get<ReportSettings>(settingsPath(tenant), signal),
  });
}
