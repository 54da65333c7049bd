export type Json =
  | string
  | number
  | boolean
  | null
  | { [key: string]: Json | undefined }
  | Json[]

export type Database = {
  public: {
    Tables: {
      backend_execution_sessions: {
        Row: {
          args: string[]
          attempt: number
          cancel_requested_at: string | null
          cases: Json | null
          checker: string | null
          checker_abs_tolerance: number | null
          checker_code: string | null
          checker_language: string | null
          checker_rel_tolerance: number | null
          claimed_by: string | null
          code: string
          compile_cpu_time_limit_ms: number | null
          compile_memory_limit_mb: number | null
          compile_timeout_ms: number | null
          cpu_time_limit_ms: number | null
          created_at: string
          end_reason: string | null
          error: string | null
          exit_code: number | null
          files: Json | null
          finished_at: string | null
          id: string
          interactive: boolean
          isolation: string | null
          language: string
          lease_expires_at: string | null
          memory_limit_mb: number | null
          mode: string
          result: Json | null
          room_id: string | null
          runs: number | null
          session_name: string | null
          started_at: string | null
          status: string
          stdin: string | null
          stop_on_failure: boolean
          tests: string | null
          timeout_ms: number | null
          usage: Json | null
          user_id: string
        }
        Insert: {
          args?: string[]
          attempt?: number
          cancel_requested_at?: string | null
          cases?: Json | null
          checker?: string | null
          checker_abs_tolerance?: number | null
          checker_code?: string | null
          checker_language?: string | null
          checker_rel_tolerance?: number | null
          claimed_by?: string | null
          code: string
          compile_cpu_time_limit_ms?: number | null
          compile_memory_limit_mb?: number | null
          compile_timeout_ms?: number | null
          cpu_time_limit_ms?: number | null
          created_at?: string
          end_reason?: string | null
          error?: string | null
          exit_code?: number | null
          files?: Json | null
          finished_at?: string | null
          id?: string
          interactive?: boolean
          isolation?: never
          language: string
          lease_expires_at?: string | null
          memory_limit_mb?: number | null
          mode?: string
          result?: Json | null
          room_id?: string | null
          runs?: number | null
          session_name?: string | null
          started_at?: string | null
          status?: string
          stdin?: string | null
          stop_on_failure?: boolean
          tests?: string | null
          timeout_ms?: number | null
          usage?: Json | null
          user_id?: string
        }
        Update: {
          args?: string[]
          attempt?: number
          cancel_requested_at?: string | null
          cases?: Json | null
          checker?: string | null
          checker_abs_tolerance?: number | null
          checker_code?: string | null
          checker_language?: string | null
          checker_rel_tolerance?: number | null
          claimed_by?: string | null
          code?: string
          compile_cpu_time_limit_ms?: number | null
          compile_memory_limit_mb?: number | null
          compile_timeout_ms?: number | null
          cpu_time_limit_ms?: number | null
          created_at?: string
          end_reason?: string | null
          error?: string | null
          exit_code?: number | null
          files?: Json | null
          finished_at?: string | null
          id?: string
          interactive?: boolean
          isolation?: never
          language?: string
          lease_expires_at?: string | null
          memory_limit_mb?: number | null
          mode?: string
          result?: Json | null
          room_id?: string | null
          runs?: number | null
          session_name?: string | null
          started_at?: string | null
          status?: string
          stdin?: string | null
          stop_on_failure?: boolean
          tests?: string | null
          timeout_ms?: number | null
          usage?: Json | null
          user_id?: string
        }
        Relationships: []
      }
      container_instances: {
        Row: {
          attempt: number
          container_id: string | null
          created_at: string
          exit_code: number | null
          finished_at: string | null
          id: string
          image: string
          oom_killed: boolean | null
          removed_at: string | null
          session_id: string
          started_at: string | null
          status: string
          worker_id: string
        }
        Insert: {
          attempt: number
          container_id?: string | null
          created_at?: string
          exit_code?: number | null
          finished_at?: string | null
          id?: string
          image: string
          oom_killed?: boolean | null
          removed_at?: string | null
          session_id: string
          started_at?: string | null
          status?: string
          worker_id: string
        }
        Update: {
          attempt?: number
          container_id?: string | null
          created_at?: string
          exit_code?: number | null
          finished_at?: string | null
          id?: string
          image?: string
          oom_killed?: boolean | null
          removed_at?: string | null
          session_id?: string
          started_at?: string | null
          status?: string
          worker_id?: string
        }
        Relationships: [
          {
            foreignKeyName: "container_instances_session_id_fkey"
            columns: ["session_id"]
            isOneToOne: false
            referencedRelation: "backend_execution_sessions"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "container_instances_session_id_fkey"
            columns: ["session_id"]
            isOneToOne: false
            referencedRelation: "session_overview"
            referencedColumns: ["id"]
          },
        ]
      }
      execbox_api_keys: {
        Row: {
          created_at: string
          id: string
          key_hash: string
          last_used_at: string | null
          name: string
          prefix: string
          revoked_at: string | null
          user_id: string
        }
        Insert: {
          created_at?: string
          id?: string
          key_hash: string
          last_used_at?: string | null
          name: string
          prefix: string
          revoked_at?: string | null
          user_id?: string
        }
        Update: {
          created_at?: string
          id?: string
          key_hash?: string
          last_used_at?: string | null
          name?: string
          prefix?: string
          revoked_at?: string | null
          user_id?: string
        }
        Relationships: []
      }
      execbox_rate_buckets: {
        Row: {
          key: string
          tokens: number
          updated_at: string
        }
        Insert: {
          key: string
          tokens: number
          updated_at: string
        }
        Update: {
          key?: string
          tokens?: number
          updated_at?: string
        }
        Relationships: []
      }
      execbox_session_clients: {
        Row: {
          client: string
          session_id: string
        }
        Insert: {
          client: string
          session_id: string
        }
        Update: {
          client?: string
          session_id?: string
        }
        Relationships: [
          {
            foreignKeyName: "execbox_session_clients_session_id_fkey"
            columns: ["session_id"]
            isOneToOne: true
            referencedRelation: "backend_execution_sessions"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "execbox_session_clients_session_id_fkey"
            columns: ["session_id"]
            isOneToOne: true
            referencedRelation: "session_overview"
            referencedColumns: ["id"]
          },
        ]
      }
      execbox_workers: {
        Row: {
          docker_ok: boolean
          hostname: string
          id: string
          last_seen: string
          max_runs: number
          running: number
          runtimes: string[] | null
          started_at: string
          version: string
        }
        Insert: {
          docker_ok: boolean
          hostname: string
          id: string
          last_seen?: string
          max_runs: number
          running?: number
          runtimes?: string[] | null
          started_at?: string
          version: string
        }
        Update: {
          docker_ok?: boolean
          hostname?: string
          id?: string
          last_seen?: string
          max_runs?: number
          running?: number
          runtimes?: string[] | null
          started_at?: string
          version?: string
        }
        Relationships: []
      }
      execution_logs: {
        Row: {
          case_index: number | null
          created_at: string
          id: number
          level: string
          message: string
          newline: boolean
          seq: number
          session_id: string
          stage: string
          stream: string
          user_id: string
        }
        Insert: {
          case_index?: number | null
          created_at?: string
          id?: never
          level: string
          message: string
          newline?: boolean
          seq: number
          session_id: string
          stage?: string
          stream: string
          user_id: string
        }
        Update: {
          case_index?: number | null
          created_at?: string
          id?: never
          level?: string
          message?: string
          newline?: boolean
          seq?: number
          session_id?: string
          stage?: string
          stream?: string
          user_id?: string
        }
        Relationships: [
          {
            foreignKeyName: "execution_logs_session_id_fkey"
            columns: ["session_id"]
            isOneToOne: false
            referencedRelation: "backend_execution_sessions"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "execution_logs_session_id_fkey"
            columns: ["session_id"]
            isOneToOne: false
            referencedRelation: "session_overview"
            referencedColumns: ["id"]
          },
        ]
      }
      judge0_submissions: {
        Row: {
          created_at: string
          first_case: number
          language_id: number
          redirect_stderr_to_stdout: boolean
          runs: number
          session_id: string
          token: string
          user_id: string
        }
        Insert: {
          created_at?: string
          first_case: number
          language_id: number
          redirect_stderr_to_stdout?: boolean
          runs?: number
          session_id: string
          token?: string
          user_id?: string
        }
        Update: {
          created_at?: string
          first_case?: number
          language_id?: number
          redirect_stderr_to_stdout?: boolean
          runs?: number
          session_id?: string
          token?: string
          user_id?: string
        }
        Relationships: [
          {
            foreignKeyName: "judge0_submissions_session_id_fkey"
            columns: ["session_id"]
            isOneToOne: false
            referencedRelation: "backend_execution_sessions"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "judge0_submissions_session_id_fkey"
            columns: ["session_id"]
            isOneToOne: false
            referencedRelation: "session_overview"
            referencedColumns: ["id"]
          },
        ]
      }
      session_input: {
        Row: {
          created_at: string
          data: string | null
          id: number
          kind: string
          session_id: string
          user_id: string
        }
        Insert: {
          created_at?: string
          data?: string | null
          id?: never
          kind: string
          session_id: string
          user_id?: string
        }
        Update: {
          created_at?: string
          data?: string | null
          id?: never
          kind?: string
          session_id?: string
          user_id?: string
        }
        Relationships: [
          {
            foreignKeyName: "session_input_session_id_fkey"
            columns: ["session_id"]
            isOneToOne: false
            referencedRelation: "backend_execution_sessions"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "session_input_session_id_fkey"
            columns: ["session_id"]
            isOneToOne: false
            referencedRelation: "session_overview"
            referencedColumns: ["id"]
          },
        ]
      }
    }
    Views: {
      session_overview: {
        Row: {
          cpu_ms: number | null
          created_at: string | null
          duration_ms: number | null
          end_reason: string | null
          error: string | null
          exit_code: number | null
          finished_at: string | null
          id: string | null
          isolation: string | null
          language: string | null
          memory_kb: number | null
          mode: string | null
          output_rows: number | null
          session_name: string | null
          started_at: string | null
          status: string | null
          user_id: string | null
          worker_id: string | null
        }
        Insert: {
          cpu_ms?: never
          created_at?: string | null
          duration_ms?: never
          end_reason?: string | null
          error?: string | null
          exit_code?: number | null
          finished_at?: string | null
          id?: string | null
          isolation?: string | null
          language?: string | null
          memory_kb?: never
          mode?: string | null
          output_rows?: never
          session_name?: string | null
          started_at?: string | null
          status?: string | null
          user_id?: string | null
          worker_id?: string | null
        }
        Update: {
          cpu_ms?: never
          created_at?: string | null
          duration_ms?: never
          end_reason?: string | null
          error?: string | null
          exit_code?: number | null
          finished_at?: string | null
          id?: string | null
          isolation?: string | null
          language?: string | null
          memory_kb?: never
          mode?: string | null
          output_rows?: never
          session_name?: string | null
          started_at?: string | null
          status?: string | null
          user_id?: string | null
          worker_id?: string | null
        }
        Relationships: []
      }
    }
    Functions: {
      create_api_key: { Args: { name: string }; Returns: string }
      execbox_admit: {
        Args: {
          p_client: string
          p_key: string
          p_max_active: number
          p_per_minute: number
          p_user: string
        }
        Returns: Record<string, unknown>
      }
    }
    Enums: {
      [_ in never]: never
    }
    CompositeTypes: {
      [_ in never]: never
    }
  }
}

type DatabaseWithoutInternals = Omit<Database, "__InternalSupabase">

type DefaultSchema = DatabaseWithoutInternals[Extract<keyof Database, "public">]

export type Tables<
  DefaultSchemaTableNameOrOptions extends
    | keyof (DefaultSchema["Tables"] & DefaultSchema["Views"])
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends (DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof (DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"] &
        DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Views"])
    : never) = never,
> = DefaultSchemaTableNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? (DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"] &
      DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Views"])[TableName] extends {
      Row: infer R
    }
    ? R
    : never
  : DefaultSchemaTableNameOrOptions extends keyof (DefaultSchema["Tables"] &
        DefaultSchema["Views"])
    ? (DefaultSchema["Tables"] &
        DefaultSchema["Views"])[DefaultSchemaTableNameOrOptions] extends {
        Row: infer R
      }
      ? R
      : never
    : never

export type TablesInsert<
  DefaultSchemaTableNameOrOptions extends
    | keyof DefaultSchema["Tables"]
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends (DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"]
    : never) = never,
> = DefaultSchemaTableNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"][TableName] extends {
      Insert: infer I
    }
    ? I
    : never
  : DefaultSchemaTableNameOrOptions extends keyof DefaultSchema["Tables"]
    ? DefaultSchema["Tables"][DefaultSchemaTableNameOrOptions] extends {
        Insert: infer I
      }
      ? I
      : never
    : never

export type TablesUpdate<
  DefaultSchemaTableNameOrOptions extends
    | keyof DefaultSchema["Tables"]
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends (DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"]
    : never) = never,
> = DefaultSchemaTableNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"][TableName] extends {
      Update: infer U
    }
    ? U
    : never
  : DefaultSchemaTableNameOrOptions extends keyof DefaultSchema["Tables"]
    ? DefaultSchema["Tables"][DefaultSchemaTableNameOrOptions] extends {
        Update: infer U
      }
      ? U
      : never
    : never

export type Enums<
  DefaultSchemaEnumNameOrOptions extends
    | keyof DefaultSchema["Enums"]
    | { schema: keyof DatabaseWithoutInternals },
  EnumName extends (DefaultSchemaEnumNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaEnumNameOrOptions["schema"]]["Enums"]
    : never) = never,
> = DefaultSchemaEnumNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[DefaultSchemaEnumNameOrOptions["schema"]]["Enums"][EnumName]
  : DefaultSchemaEnumNameOrOptions extends keyof DefaultSchema["Enums"]
    ? DefaultSchema["Enums"][DefaultSchemaEnumNameOrOptions]
    : never

export type CompositeTypes<
  PublicCompositeTypeNameOrOptions extends
    | keyof DefaultSchema["CompositeTypes"]
    | { schema: keyof DatabaseWithoutInternals },
  CompositeTypeName extends (PublicCompositeTypeNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[PublicCompositeTypeNameOrOptions["schema"]]["CompositeTypes"]
    : never) = never,
> = PublicCompositeTypeNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[PublicCompositeTypeNameOrOptions["schema"]]["CompositeTypes"][CompositeTypeName]
  : PublicCompositeTypeNameOrOptions extends keyof DefaultSchema["CompositeTypes"]
    ? DefaultSchema["CompositeTypes"][PublicCompositeTypeNameOrOptions]
    : never

export const Constants = {
  public: {
    Enums: {},
  },
} as const

