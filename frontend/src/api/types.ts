import type { components } from './schema';

type S = components['schemas'];
export type DomainView = S['DomainView'];
export type DomainPage = S['DomainPage'];
export type CreatedDomain = S['CreatedDomain'];
export type DomainDetail = S['DomainDetail'];
export type DnsRecord = S['DnsRecord'];
export type Checks = S['Checks'];
export type Check = S['Check'];
export type PolicyState = S['PolicyState'];
export type PolicyVersionList = S['PolicyVersionList'];
export type PolicyVersionView = S['PolicyVersionView'];
export type PolicyChange = S['PolicyChange'];
export type Me = S['Me'];
export type UserMe = S['UserMe'];
export type TokenResponse = S['TokenResponse'];
export type SignupRequest = S['SignupRequest'];
export type SignupResponse = S['SignupResponse'];
export type TenantView = S['TenantView'];

/** Every domain state the API names, in the order the filter lists them. */
export const DOMAIN_STATES = ['pending', 'verified', 'active', 'degraded', 'detached', 'offboarding'] as const;

/** Path of a tenant-scoped resource; segments are URL-encoded. */
export function tenantPath(tenant: string, ...rest: string[]): string {
  return ['/api/v1/tenants', tenant, ...rest].map((s, i) => (i === 0 ? s : encodeURIComponent(s))).join('/');
}

export type MemberDetail = S['MemberDetail'];
export type MemberList = S['MemberList'];
export type Member = S['Member'];
export type TokenView = S['TokenView'];
export type TokenList = S['TokenList'];
export type CreatedToken = S['CreatedToken'];
export type InvitationView = S['InvitationView'];
export type InvitationList = S['InvitationList'];
export type InvitationCreated = S['InvitationCreated'];
export type AuditEntry = S['AuditEntry'];
export type AuditPage = S['AuditPage'];
export type Summary = S['Summary'];
export type SummaryGroup = S['SummaryGroup'];
export type Signals = S['Signals'];
export type Totals = S['Totals'];
export type GroupBy = S['GroupBy'];
export type ReportItem = S['ReportItem'];
export type ReportList = S['ReportList'];
export type ReportDetailView = S['ReportDetailView'];
export type PolicyView = S['PolicyView'];
export type FailureView = S['FailureView'];
export type ReportSettings = S['ReportSettings'];
export type LeftOut = S['LeftOut'];
export type Origin = S['Origin'];
export type UploadResult = S['UploadResult'];
export type ExistingSetup = S['ExistingSetup'];
export type MoveAnswer = S['MoveAnswer'];
export type MoveView = S['MoveView'];
